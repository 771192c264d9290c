"""The lowest and the highest cookiecutter that requirements.txt admits run the template.

What the template reads of cookiecutter (its context keys, call signatures and frames) lives in
`timm_hub_template.cookiecutter_run`. The highest admitted version is the one installed (`pip install -r
requirements.txt` takes the newest); the lowest is installed from the package registry into a folder of its own
(`pip install --no-deps --target`, cached under the venv as the compatibility matrix's versions are: the installed
cookiecutter's dependencies are a superset of its own) and put first on the path of the command line's process. Each runs the cookiecutter command line end to end on a
small architecture (random weights) and must leave a verified folder; a `--replay` into another output folder must
land there (before 2.3, cookiecutter kept the replayed run's `_output_dir`), and batch mode renders with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from helpers.support import TEMPLATE_DIR, install
from packaging.requirements import Requirement

from timm_hub_template import dependencies
from timm_hub_template.run_files import INCOMPLETE_MARKER

ARCHITECTURE = "resnet10t"
FOLDER = f"custom-{ARCHITECTURE}"


def admitted() -> Requirement:
    """cookiecutter's line in requirements.txt (the list: timm_hub_template/requirements.txt)."""
    for line in dependencies.requirements():
        if Requirement(line).name == "cookiecutter":
            return Requirement(line)
    raise AssertionError("requirements.txt does not name cookiecutter")


def lowest_admitted() -> str:
    (floor,) = [spec.version for spec in admitted().specifier if spec.operator == ">="]
    return floor


@pytest.fixture(scope="session")
def cookiecutter_path(request) -> dict[str, str]:
    """`PYTHONPATH` for the cookiecutter version asked for: "" for the installed one, else a folder holding it."""
    if request.param == "highest":
        assert version("cookiecutter") in admitted().specifier
        return {"version": version("cookiecutter"), "PYTHONPATH": ""}
    floor = lowest_admitted()
    return {"version": floor, "PYTHONPATH": str(install(f"cookiecutter=={floor}"))}


def run(cwd: Path, cookiecutter: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [cookiecutter["PYTHONPATH"], str(TEMPLATE_DIR)]))
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
        timeout=900,
    )


def assert_verified(folder: Path, process: subprocess.CompletedProcess) -> None:
    assert process.returncode == 0, process.stderr[-3000:]
    assert folder.is_dir() and not (folder / INCOMPLETE_MARKER.name).exists()
    assert {"config.json", "model.safetensors", "README.md", f"modeling_{ARCHITECTURE}.py"} <= {
        path.name for path in folder.iterdir()
    }


# The rest of the suite runs the installed (highest) version too: only the lowest is in the quick loop.
@pytest.mark.parametrize(
    "cookiecutter_path", ["lowest", pytest.param("highest", marks=pytest.mark.slow)], indirect=True
)
def test_the_command_line_and_its_replay_leave_verified_folders(tmp_path, cookiecutter_path):
    (tmp_path / "config.yaml").write_text(
        f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    reported = run(tmp_path, cookiecutter_path, "-m", "cookiecutter", "--version")
    assert reported.stdout.startswith(f"Cookiecutter {cookiecutter_path['version']} from ")
    common = ["-m", "cookiecutter", "--config-file", "config.yaml"]

    first = run(tmp_path, cookiecutter_path, *common, "--no-input", "-o", "first", str(TEMPLATE_DIR),
                f"architecture={ARCHITECTURE}", "weights=random", "git_init=no")  # fmt: skip
    assert_verified(tmp_path / "first" / FOLDER, first)
    assert "Verified: " in first.stdout

    replayed = run(tmp_path, cookiecutter_path, *common, "--replay", "-o", "second", str(TEMPLATE_DIR))
    assert_verified(tmp_path / "second" / FOLDER, replayed)


@pytest.mark.parametrize("cookiecutter_path", ["lowest"], indirect=True)
def test_batch_mode_renders_with_the_lowest_cookiecutter(tmp_path, cookiecutter_path):
    batch = run(tmp_path, cookiecutter_path, "-m", "timm_hub_template", "batch", ARCHITECTURE, "--output", "out")
    assert_verified(tmp_path / "out" / FOLDER, batch)
    assert "1 of 1 generated" in batch.stdout
