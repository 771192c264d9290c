"""The `Args:` section of a generated config class: one entry per `__init__` argument, in Transformers' style.

An explicit field's text is timm's own, from the `Args:` section of its class's (or a parent's) constructor or
class docstring (Google style, as ResNet, EfficientNet, ConvNeXt and VisionTransformer write them); a field timm
does not document gets one line from its kind. A component field lists its choices once, one spelling per
component: where timm's factories accept a name for a `COMPONENTS` entry ("relu" for "ReLU", "batchnorm2d" for
"BatchNorm2d") or several names for one layer ("hard_swish", "hardswish"), the docs name one, the key where
there is one (the form config.json writes); every name stays a valid value.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
from typing import Any

from timm_hub_template.introspection import ArchitectureSpec, Field, Kind, object_of
from timm_hub_template.introspection.classes import _factory_arguments
from timm_hub_template.introspection.generator_fields import FIELD_DOCS

WIDTH = 88  # ruff's default line length, which the generated files keep
INDENT = " " * 4  # the class body
SECTION_END = re.compile(r"(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?|Notes?|References):\s*$")
# `name: text` or `name (type): text` (ResNet also writes `name (type) : text`).
ENTRY = re.compile(r"(?P<name>\w+)\s*(?:\((?P<type>[^()]*(?:\([^()]*\)[^()]*)*)\))?\s*:(?:\s+(?P<text>.*))?$")


def google_args(docstring: str | None) -> dict[str, str]:
    """The entries of a Google-style `Args:` section: name -> text, continuation lines kept as lines."""
    entries: dict[str, list[str]] = {}
    lines = inspect.cleandoc(docstring or "").splitlines()
    for start, line in enumerate(lines):
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            break
    else:
        return {}
    section_indent = _indent(lines[start])
    entry_indent: int | None = None
    current: list[str] | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= section_indent or SECTION_END.match(line.strip()):
            break
        entry_indent = indent if entry_indent is None else entry_indent
        match = ENTRY.match(line.strip()) if indent == entry_indent else None
        if match:
            current = entries.setdefault(match["name"], [])
            current.append(match["text"] or "")
        elif current is not None:
            current.append(line[entry_indent:].rstrip())
    return {name: textwrap.dedent("\n".join(text)).strip() for name, text in entries.items() if "".join(text).strip()}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def timm_argument_docs(model_cls: type) -> dict[str, str]:
    """What the docstrings of `model_cls` and its parents say of each constructor argument (nearest class first)."""
    docs: dict[str, str] = {}
    for cls in model_cls.__mro__:
        if not cls.__module__.startswith("timm."):
            continue
        for docstring in (vars(cls).get("__init__", None).__doc__ if "__init__" in vars(cls) else None, cls.__doc__):
            for name, text in google_args(docstring).items():
                docs.setdefault(name, text)
    return docs


def documented_choices(choices: tuple[Any, ...], keys: set[str], objects: dict[str, Any]) -> tuple[Any, ...]:
    """The choices with one spelling per component: a name that differs from an earlier one only in case, or that
    `objects` maps to the same class or function, is left out. `COMPONENTS` keys come first, as config.json writes
    them; the others in order."""
    taken_names: set[str] = set()
    taken_objects: list[Any] = []
    kept = set()
    for choice in sorted((c for c in choices if isinstance(c, str)), key=lambda c: (c not in keys, choices.index(c))):
        obj = objects.get(choice)
        if choice.casefold() in taken_names or any(obj is taken for taken in taken_objects if obj is not None):
            continue
        kept.add(choice)
        taken_names.add(choice.casefold())
        if obj is not None:
            taken_objects.append(obj)
    return tuple(choice for choice in choices if not isinstance(choice, str) or choice in kept)


# The name tables of timm's layer factories (what `get_act_layer("relu")` ... return, before timm's own tweaks).
FACTORY_TABLES = {
    "get_act_layer": ("timm.layers.create_act", "_ACT_LAYER_DEFAULT"),
    "get_norm_layer": ("timm.layers.create_norm", "_NORM_MAP"),
    "get_norm_act_layer": ("timm.layers.create_norm_act", "_NORM_ACT_MAP"),
}


def named_objects(spec: ArchitectureSpec, model_cls: type, argument: str) -> dict[str, Any]:
    """What the names a component field may take stand for: `COMPONENTS` keys, and the factory names whose meaning is
    clear (the factory the class calls on the argument, else those that agree on the name)."""
    modules = {alias: getattr(importlib.import_module(module), name) for module, name, alias in spec.imports}
    objects = {}
    for key, source in spec.components:
        top, *rest = source.split(".")
        obj = modules.get(top)
        for part in rest:
            obj = getattr(obj, part, None)
        if obj is not None:
            objects[key] = obj
    called = [
        FACTORY_TABLES[f] for f in sorted(_factory_arguments(model_cls).get(argument, ())) if f in FACTORY_TABLES
    ]
    tables = [getattr(importlib.import_module(module), name) for module, name in called or FACTORY_TABLES.values()]
    for name in sorted({name for table in tables for name in table}):
        meanings = {id(table[name]): table[name] for table in tables if name in table}
        if len(meanings) == 1 and name not in objects:
            objects[name] = next(iter(meanings.values()))
    return objects


def _type_name(value: Any, field: Field | None) -> str:
    if field is not None and field.kind is Kind.COMPONENT:
        return "str or dict" if not isinstance(value, (list, tuple)) else "list"
    if field is not None and field.kind is Kind.STRUCTURE:
        return "list" if isinstance(value, (list, tuple)) else "dict"
    if isinstance(value, bool):
        return "bool"
    for kind in (int, float, str, tuple, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return ""


def _annotation(parameter: inspect.Parameter | None) -> str:
    """The constructor's annotation of a field whose value says nothing of its type (None), when it is short."""
    if parameter is None or parameter.annotation is parameter.empty:
        return ""
    text = (
        parameter.annotation
        if isinstance(parameter.annotation, str)
        else inspect.formatannotation(parameter.annotation)
    )
    return text if len(text) <= 32 else ""


def _kind_text(field: Field) -> str:
    """One line for a field timm does not document, from what it holds."""
    words = field.name.replace("_", " ")
    if field.kind is Kind.COMPONENT:
        return f"The {words}: a timm layer, block or function, or its name."
    if field.kind is Kind.STRUCTURE:
        return f"The {words}: nested settings; components by key, dataclasses as tagged dicts."
    value = field.value
    if isinstance(value, bool):
        return f"Turns {words} on (True) or off (False)."
    if isinstance(value, (int, float)):
        return f"The {words} (a number)."
    if isinstance(value, (list, tuple)):
        return f"The {words}: one value per stage or dimension."
    if isinstance(value, str):
        return f"The {words}, by name."
    return f"The {words}, or None to leave it out."


# The arguments every generated config has besides the explicit fields.
COMMON_ARGS = {
    "pruned_variant": (
        "str",
        "A timm `*_pruned` architecture whose channel counts are applied to the model, or None.",
    ),
    "architecture": ("str", "timm's architecture name, as config.json holds it for timm and TimmWrapper."),
    "model_args": ("dict", "Keyword arguments of `timm.create_model`, as config.json holds them for timm."),
    "pretrained_cfg": ("dict", "timm's pretrained config: the data config of the weights; defaults to this model's."),
    "label_names": ("list", "The class names, in index order; they become `id2label`."),
    "num_classes": ("int", "The classifier size, when there are no `label_names`; it becomes `num_labels`."),
    "out_features": ("list", "Backbone feature maps to return, by name of `stage_names`."),
    "out_indices": ("list", "Backbone feature maps to return, by index into `stage_names`."),
}


def _entry(name: str, type_name: str, default: str | None, texts: list[str]) -> list[str]:
    """One Args entry: `name (`type`, *optional*, defaults to `x`):` then the texts, wrapped, each a paragraph."""
    details = [f"`{type_name}`"] if type_name else []
    details.append("*optional*")
    header = f"{INDENT * 2}{name} ({', '.join(details)}"
    if default is not None and len(f"{header}, defaults to `{default}`):") <= WIDTH:
        header += f", defaults to `{default}`"
    lines = [header + "):"]
    for paragraph in [paragraph for text in texts for paragraph in _paragraphs(text)]:
        bullet = re.match(r"[*-] ", paragraph)
        lines += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent=INDENT * 3,
            subsequent_indent=INDENT * 3 + ("  " if bullet else ""),
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def _paragraphs(text: str) -> list[str]:
    """Lines joined into paragraphs; a bullet (`* x`, `- x`) starts its own."""
    paragraphs: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if paragraphs and not re.match(r"[*-] ", line):
            paragraphs[-1] += " " + line
        else:
            paragraphs.append(line)
    return [paragraph.replace('"""', "'''") for paragraph in paragraphs]


def _choices_text(field: Field, keys: set[str], objects: dict[str, Any]) -> str:
    documented = documented_choices(field.choices, keys, objects)
    text = f"Choices: {', '.join(repr(choice) for choice in documented)}"
    if len(documented) < len(field.choices):
        return text + f" (`{field.name.upper()}_CHOICES` also holds other spellings of these names)."
    return text + "."


def args_section(spec: ArchitectureSpec) -> str:
    """The `Args:` section of the config class's docstring, indented for the class body."""
    lines = [f"{INDENT}Args:"]
    if spec.explicit:
        model_cls = object_of(f"{spec.model_module}:{spec.model_class}")
        timm_docs = timm_argument_docs(model_cls)
        parameters = inspect.signature(model_cls.__init__).parameters
        keys = {key for key, _ in spec.components}
        for field in spec.fields:
            generator_doc = FIELD_DOCS.get(field.name) if spec.generator_arguments else None
            texts = [timm_docs.get(field.argument_name) or generator_doc or _kind_text(field)]
            if field.kind is Kind.COMPONENT and field.choices:
                objects = named_objects(spec, model_cls, field.argument_name)
                texts.append(_choices_text(field, keys, objects))
            default = field.name.upper() if field.nested else repr(field.value)
            type_name = _type_name(field.value, field) or _annotation(parameters.get(field.argument_name))
            lines += _entry(field.name, type_name, default, texts)
    names = [name for name in COMMON_ARGS if name != "pruned_variant" or spec.prunable]
    if not spec.stage_names:
        names = [name for name in names if name not in ("out_features", "out_indices")]
    for name in names:
        type_name, text = COMMON_ARGS[name]
        lines += _entry(name, type_name, None, [text])
    return "\n".join(lines)
