"""cookiecutter's entry into the template (`_extensions` in cookiecutter.json): the Jinja extension of the
`timm_hub_template` package of this checkout, never of another copy.

cookiecutter imports an extension by name with the template's folder *appended* to `sys.path`, so a
`timm_hub_template` installed in site-packages (`pip install "git+<template URL>"` installs one) would be found
first, and a template commit that changed both the files cookiecutter renders and the package would run with the
files of one version and the code of another. This module lives in the checkout only (the wheel holds the package
alone), so cookiecutter finds it in the template's folder; it imports the package from that folder, put first on
`sys.path` for that import only (the package's own imports follow its `__path__`, so nothing is left behind). A
process that already imported another copy of the package cannot import this one: the run stops with one line
naming both. As cookiecutter starts rendering the project folder, the package also checks that the template it
renders is the checkout it belongs to (`cookiecutter_run.Run.begin`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = TEMPLATE_DIR / "timm_hub_template"


def _version(package_dir: Path) -> str:
    found = re.search(r'^__version__ = "([^"]+)"', (package_dir / "__init__.py").read_text(), re.MULTILINE)
    return found.group(1) if found else "(unknown version)"


def _import_own_package():
    package = sys.modules.get("timm_hub_template")
    if package is None:
        sys.path.insert(0, str(TEMPLATE_DIR))
        try:
            import timm_hub_template as package
        finally:
            sys.path.remove(str(TEMPLATE_DIR))  # the first occurrence: the one inserted above
    location = Path(package.__file__ or "").resolve().parent
    if location != PACKAGE_DIR:
        raise SystemExit(
            f"Error: this process has imported timm_hub_template {getattr(package, '__version__', '?')} from "
            f"{location}, not the template's own timm_hub_template {_version(PACKAGE_DIR)} in {PACKAGE_DIR}: "
            "run cookiecutter in a new process that imports no other copy of the package"
        )
    return package


_import_own_package()

from timm_hub_template.jinja_extension import TimmHubExtension  # after the package is the checkout's

__all__ = ["TimmHubExtension"]
