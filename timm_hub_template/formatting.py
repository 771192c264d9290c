"""ruff on the generated Python files: format them, and report what `ruff check` and `ruff format --check` find."""

from __future__ import annotations

import subprocess
from pathlib import Path

from timm_hub_template.errors import ExportError


def run_ruff(project_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """ruff on the folder's Python files with ruff's defaults (`--isolated`); findings name the file only."""
    from ruff.__main__ import find_ruff_bin

    files = sorted(path.name for path in project_dir.glob("*.py"))
    return subprocess.run(
        [find_ruff_bin(), *arguments, "--isolated", "--no-cache", *files],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
    )


def format_python_files(project_dir: Path) -> None:
    """ruff-format the rendered files: long literal defaults (block lists, dataclass configs) get wrapped."""
    result = run_ruff(project_dir, "format", "--quiet")
    if result.returncode != 0:
        output = " ".join((result.stderr + result.stdout).split())
        raise ExportError(f"the generated Python does not parse (ruff format): {output[:300]}")


def ruff_problems(project_dir: Path) -> list[str]:
    """What `ruff check` and `ruff format --check` (ruff's defaults) say of the generated files; empty when clean."""
    problems = []
    for command in (["check", "--output-format", "concise"], ["format", "--check"]):
        result = run_ruff(project_dir, *command)
        if result.returncode != 0:
            problems += [line for line in result.stdout.splitlines() if line.strip()] or [result.stderr.strip()]
    return problems
