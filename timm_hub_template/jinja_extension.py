"""The Jinja extension cookiecutter loads (`_extensions` in cookiecutter.json): names and introspection.

Filters:
- `pyrepr`: Python's own quoting for any value rendered into source (never paste raw strings into code);
- `pyliteral`: the same, with lists as tuples, for default argument values;
- `module_name`, `class_prefix`, `repo_name`, `model_type`: derived defaults;
- `timm_spec`: the `ArchitectureSpec` of a timm architecture (imports timm on first use only);
- `import_block`: the sorted import statements of a generated modeling file.

Globals: `project_folder` (a safe output folder), `template_root` and `cruft_update` (for the hooks).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

from timm_hub_template import names

STANDARD_LIBRARY = {"functools", "math", "typing", "collections", "dataclasses", "enum"}


def pyrepr(value: Any) -> str:
    """`repr` for Python source: quotes strings safely, keeps tuples, None, True and non-ASCII text."""
    return repr(value)


def pyliteral(value: Any) -> str:
    """`pyrepr` with lists written as tuples: immutable defaults, as timm writes them (JSON reads both as lists)."""
    return repr(_lists_to_tuples(value))


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_lists_to_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _lists_to_tuples(item) for key, item in value.items()}
    return value


def timm_spec(architecture: str, num_labels: str = "auto"):
    from timm_hub_template.introspect import inspect_architecture, num_classes_override

    return inspect_architecture(architecture, num_classes_override(num_labels))


def import_block(imports: tuple[tuple[str, str, str], ...], extra: list[str]) -> str:
    """Import statements, standard library first, then third-party, in isort's order.

    `imports` holds (module, name, alias) triples; each entry of `extra` is `"module"` (for `import module`)
    or `"module:name"`.
    """
    straight: set[str] = set()
    from_imports: dict[str, set[str]] = {}
    for module, name, alias in imports:
        from_imports.setdefault(module, set()).add(name if alias == name else f"{name} as {alias}")
    for entry in extra:
        module, _, name = entry.partition(":")
        if name:
            from_imports.setdefault(module, set()).add(name)
        else:
            straight.add(module)
    groups: tuple[list[str], list[str]] = ([], [])
    for module in sorted(straight):
        groups[module.split(".")[0] not in STANDARD_LIBRARY].append(f"import {module}")
    for module in sorted(from_imports):
        line = f"from {module} import {', '.join(sorted(from_imports[module], key=_isort_key))}"
        groups[module.split(".")[0] not in STANDARD_LIBRARY].append(line)
    return "\n\n".join("\n".join(group) for group in groups if group)


def _isort_key(name: str) -> tuple[int, str]:
    """isort's `order-by-type`: CONSTANTS, then Classes, then functions and modules."""
    if name.isupper() and len(name) > 1:
        return 0, name.lower()
    return (1 if name[:1].isupper() else 2), name.lower()


def head_pattern(module_name: str) -> str:
    """The state-dict key pattern of a classifier module, e.g. `head.fc` -> `timm_model\\.head\\.fc\\.`."""
    return re.escape(f"timm_model.{module_name}.")


def validation_error(context: dict[str, Any]) -> str:
    from timm_hub_template.validate import validation_error as check

    return check(context)


def public_context(cookiecutter: dict[str, Any]) -> dict[str, Any]:
    """The user's variables (no `_extensions`, `__prompts__` ...), as a plain dict for a hook."""
    return {key: value for key, value in cookiecutter.items() if not key.startswith("_")}


def project_folder(repo_name: str) -> str:
    """The folder cookiecutter creates: `repo_name`, or a placeholder inside the output folder when `repo_name`
    is not a safe folder name (`../x`, `a/b`, empty). The pre-generation hook then refuses the name, and
    cookiecutter removes the placeholder: an unsafe name never becomes a path."""
    from timm_hub_template.validate import repo_name_error

    return INVALID_FOLDER if repo_name_error(repo_name) else repo_name


INVALID_FOLDER = ".timm-hub-template-invalid-repo-name"


def template_root() -> str:
    """The template checkout this extension was imported from (cookiecutter and cruft put it on sys.path), so
    the post-generation hook imports the same `timm_hub_template`; cruft does not set `_repo_dir`."""
    return str(Path(__file__).resolve().parent.parent)


def cruft_update() -> bool:
    """True while `cruft update` regenerates the template to compute its diff: the hook must then neither
    `git init` its scratch folder nor push it to the Hub. Rendering runs in cruft's process, so its call stack
    tells; the hook itself runs in a subprocess that cannot see it."""
    return any(frame.f_globals.get("__name__") == "cruft._commands.update" for frame in _frames())


def _frames():
    frame = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back


class TimmHubExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals.update(
            project_folder=project_folder, template_root=template_root, cruft_update=cruft_update
        )
        environment.filters.update(
            pyrepr=pyrepr,
            pyliteral=pyliteral,
            module_name=names.module_name,
            class_prefix=names.class_prefix,
            repo_name=names.repo_name,
            model_type=names.model_type,
            timm_spec=timm_spec,
            import_block=import_block,
            head_pattern=head_pattern,
            public_context=public_context,
            validation_error=validation_error,
        )
