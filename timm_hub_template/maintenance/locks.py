"""Resolve the locks: constraints.txt and one lock per Transformers version of the compatibility matrix.

`constraints.txt` pins every package the template and its tests install (requirements-test.txt's closure), for
Linux, macOS and Windows alike (`uv pip compile --universal`), with torch and torchvision at the releases this
project's machines serve (requirements.txt's upper bounds). `tests/environments/transformers-<version>.txt` pins what a user of each older version of
the matrix installs (`compat.environment_requirements`), so that no later release of any package changes that
version's run. With `--upgrade` every pin moves to the newest release the ranges allow; `.ci/refresh-locks` does
that and then runs the whole suite under the new pins.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from timm_hub_template import compat

HELP = "resolve constraints.txt and the compatibility matrix's locks (uv pip compile --universal)"
ROOT = Path(__file__).resolve().parent.parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
ENVIRONMENTS = ROOT / "tests" / "environments"
# The oldest Python the locks hold for: Transformers 5.24 and later need 3.11 (pyproject's requires-python).
PYTHON = "3.11"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest allowed release")


def environment_lock(transformers_version: str) -> Path:
    """The lock of the matrix's environment for `transformers_version` (its input beside it, `.in`)."""
    return ENVIRONMENTS / f"transformers-{transformers_version}.txt"


def compile_lock(source: Path, output: Path, upgrade: bool) -> None:
    """`uv pip compile --universal` of the requirements file `source` into `output` (kept pins stay unless
    `upgrade`), run from the repository so that the lock names its input by a relative path."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not installed: python -m pip install uv")
    command = [uv, "pip", "compile", "--quiet", "--universal", "--python-version", PYTHON]
    command += [str(source.relative_to(ROOT)), "--output-file", str(output.relative_to(ROOT))]
    command += ["--annotation-style", "line", "--custom-compile-command", "bash .ci/refresh-locks"]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, check=True, cwd=ROOT)


def run(args: argparse.Namespace) -> int:
    compile_lock(ROOT / "requirements-test.txt", CONSTRAINTS, args.upgrade)
    timm_version = pinned("timm", CONSTRAINTS)
    torch = pinned("torch", CONSTRAINTS), pinned("torchvision", CONSTRAINTS)
    ENVIRONMENTS.mkdir(parents=True, exist_ok=True)
    for transformers_version in compat.TRANSFORMERS_MATRIX:
        lock = environment_lock(transformers_version)
        requirements = compat.environment_requirements(transformers_version, timm_version, torch)
        lock.with_suffix(".in").write_text("\n".join(requirements) + "\n")
        compile_lock(lock.with_suffix(".in"), lock, args.upgrade)
    newest = pinned("transformers", CONSTRAINTS)
    print(f"constraints.txt: transformers {newest}, timm {timm_version}, torch {torch[0]}, torchvision {torch[1]}")
    return 0


def pinned(package: str, lock: Path) -> str:
    """The version `lock` pins `package` to (the first pin: markers may split it by Python version)."""
    for line in lock.read_text().splitlines():
        if line.lower().startswith(f"{package.lower()}=="):
            return line.split("==", 1)[1].split(";")[0].split()[0]
    raise LookupError(f"{lock.name} pins no {package}")
