"""The packages the template needs in cookiecutter's environment, checked before anything else runs.

`cookiecutter gh:<owner>/timm-hub-template` may run from an environment with only cookiecutter in it (what
`pipx install cookiecutter` gives). The list is this package's requirements.txt, which pyproject.toml also reads
(so `pip install .` installs the same) and requirements.txt at the repository's root includes; it is package data,
so an installed copy of the package reads its own.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().with_name("requirements.txt")
# What `onnx=yes` needs on top (onnxscript: torch's exporter), installed only when asked for.
ONNX_REQUIREMENTS = REQUIREMENTS.with_name("requirements-onnx.txt")


def requirements(path: Path = REQUIREMENTS) -> list[str]:
    """The requirement lines of a requirements file (`timm>=1.0.31,<1.1` ...); `-r` and other options are skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]


def missing(path: Path = REQUIREMENTS) -> list[str]:
    """The requirement lines whose distribution is not installed."""
    absent = []
    for requirement in requirements(path):
        try:
            version(_distribution(requirement))
        except PackageNotFoundError:
            absent.append(requirement)
    return absent


def install_hint(absent: list[str]) -> str:
    names = ", ".join(_distribution(requirement) for requirement in absent)
    return (
        f"the template needs {names} in cookiecutter's Python environment: install them with "
        f"`python -m pip install -r {REQUIREMENTS}` (with pipx: `pipx runpip cookiecutter install -r {REQUIREMENTS}`)"
    )


def missing_onnx() -> list[str]:
    """The ONNX requirement lines (requirements-onnx.txt) whose distribution is not installed."""
    return missing(ONNX_REQUIREMENTS)


def onnx_install_hint(absent: list[str]) -> str:
    names = ", ".join(_distribution(requirement) for requirement in absent)
    return f"onnx=yes needs {names}: install them with `python -m pip install -r {ONNX_REQUIREMENTS}`"
