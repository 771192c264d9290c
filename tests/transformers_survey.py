"""The Transformers survey: generated repositories loaded under the latest patch of every minor release, from the
matrix's floor to the newest on PyPI, three ways, as Hub repositories; writes a table (COMPATIBILITY.md).

Usage: .venv/bin/python tests/transformers_survey.py [--output docs/reports/COMPATIBILITY.md] [--resume] [--only 5.25 ...]

Each version runs in an environment of its own, resolved today (`uv pip compile` of what a user of that version
installs, `compat.environment_requirements`), torch shared with this venv, as in tests/test_compat.py, whose
folders and checks it reuses: the CNN's preprocessing is edited in config.json first, so every loader must read
that one copy. Needs uv (`pip install uv`) and PyPI; about two minutes a version on two cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS), str(TESTS.parent)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="transformers-survey-hf-"))

from helpers.support import PACKAGE_CACHE, bake, environment
from packaging.version import Version
from test_compat import ARCHITECTURES, EDITED_PREPROCESSING, assert_loads_exactly, run_check

from timm_hub_template import compat
from timm_hub_template.maintenance.locks import CONSTRAINTS, PYTHON, pinned


def latest_patches(floor: str) -> list[str]:
    """The latest patch of every minor release of Transformers on PyPI from `floor`'s minor on (no pre-releases)."""
    output = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "transformers"], capture_output=True, text=True, check=True
    ).stdout
    available = [
        Version(item.strip()) for item in output.split("Available versions:", 1)[1].splitlines()[0].split(",")
    ]
    latest: dict[tuple[int, int], Version] = {}
    for version in available:
        if not version.is_prerelease and version >= Version(floor):
            key = (version.major, version.minor)
            latest[key] = max(latest.get(key, version), version)
    return [str(latest[key]) for key in sorted(latest)]


def resolved_today(version: str) -> Path:
    """A lock of what a user of `version` installs today, for this Python and platform."""
    requirements = compat.environment_requirements(
        version, pinned("timm", CONSTRAINTS), (pinned("torch", CONSTRAINTS), pinned("torchvision", CONSTRAINTS))
    )
    folder = PACKAGE_CACHE / "survey"
    folder.mkdir(parents=True, exist_ok=True)
    source, lock = folder / f"transformers-{version}.in", folder / f"transformers-{version}.txt"
    source.write_text("\n".join(requirements) + "\n")
    uv = Path(sys.executable).with_name("uv")
    command = [str(uv), "pip", "compile", "--quiet", "--python-version", PYTHON, str(source), "-o", str(lock)]
    subprocess.run(command, check=True)
    return lock


def earlier_rows(output: Path) -> dict[str, str]:
    """The table rows of an earlier survey, by version (`--only` re-runs some and keeps the others)."""
    if not output.exists():
        return {}
    rows = [line for line in output.read_text().splitlines() if line.startswith("| ") and line[2].isdigit()]
    return {row.split(" | ")[0].removeprefix("| "): row for row in rows}


def outcome(report: dict, architecture: str, version: str) -> str:
    try:
        assert_loads_exactly({**report["repos"][architecture], "timm_version": report["timm"]}, architecture, version)
    except AssertionError as error:
        return f"failed: {str(error).splitlines()[0][:160]}"
    if "error" in report["repos"][architecture]["timm_wrapper"]:  # a known limit of that version's TimmWrapper
        return "exact; TimmWrapper cannot build it (meta buffers)"
    return "exact"


def write_table(output: Path, rows: dict[str, str], versions: list[str]) -> int:
    """The table of `rows` (by version, oldest first); returns how many cells are exact."""
    ordered = [rows[version] for version in sorted(rows, key=Version)]
    exact = sum(row.count("| exact") for row in ordered)  # a cell begins with "exact" or "failed"
    missing = [version for version in versions if version not in rows]
    lines = [
        "# Transformers survey",
        "",
        (
            f"Measured {datetime.date.today().isoformat()} by `python tests/transformers_survey.py` (timm "
            f"{pinned('timm', CONSTRAINTS)}, torch {pinned('torch', CONSTRAINTS)}): the latest patch of every "
            f"Transformers minor release from {compat.TRANSFORMERS_FLOOR}, each in an environment resolved that day, "
            "loading three generated repositories as Hub repositories (a repo id from a Hugging Face cache; `hf-hub:` "
            "for timm) with their code, with TimmWrapper and with timm: outputs, pixels and labels equal to timm's "
            f"(`exact`). The CNN's preprocessing is edited in its config.json first "
            f"({EDITED_PREPROCESSING['resnet10t']}). {exact} of {len(ordered) * len(ARCHITECTURES)} exact."
            + (f" Not run yet: {', '.join(missing)} (`--resume` runs them)." if missing else "")
        ),
        "",
        "| Transformers | huggingface_hub | " + " | ".join(ARCHITECTURES) + " |",
        "|---|---|" + "---|" * len(ARCHITECTURES),
        *ordered,
        "",
    ]
    output.write_text("\n".join(lines))
    return exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=TESTS.parent / "docs" / "reports" / "COMPATIBILITY.md")
    parser.add_argument("--only", nargs="*", help="re-run these minor releases (5.0 ...), keep the table's others")
    parser.add_argument("--resume", action="store_true", help="run the versions the table does not have yet")
    args = parser.parse_args()
    everything = latest_patches(compat.TRANSFORMERS_FLOOR)
    rows = earlier_rows(args.output) if args.only or args.resume else {}
    versions = [version for version in everything if not (args.resume and version in rows)]
    if args.only:
        versions = [version for version in versions if ".".join(version.split(".")[:2]) in args.only]
    scratch = Path(tempfile.mkdtemp(prefix="transformers-survey-"))
    folders = {
        name: bake(scratch / "out", architecture=name, weights="random", git_init="no") for name in ARCHITECTURES
    }
    for name, edits in EDITED_PREPROCESSING.items():
        path = folders[name] / "config.json"
        config = json.loads(path.read_text())
        path.write_text(json.dumps({**config, "pretrained_cfg": {**config["pretrained_cfg"], **edits}}, indent=2))
    for version in versions:
        try:
            python = environment(resolved_today(version))
            report = run_check(folders, scratch / version, python=python, hub=True)
            cells = [outcome(report, name, version) for name in ARCHITECTURES]
            hub = report["huggingface_hub"]
        except (AssertionError, subprocess.CalledProcessError) as error:
            cells, hub = [f"failed: {str(error).splitlines()[0][:160]}"] * len(ARCHITECTURES), "?"
        rows[version] = f"| {version} | {hub} | " + " | ".join(cells) + " |"
        print(rows[version], flush=True)
        write_table(args.output, rows, everything)  # after each version: an interrupted survey resumes
    exact = write_table(args.output, rows, everything)
    return 0 if exact == len(everything) * len(ARCHITECTURES) else 1


if __name__ == "__main__":
    sys.exit(main())
