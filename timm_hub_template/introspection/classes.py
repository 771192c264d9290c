"""The timm class as a whole: every architecture of `timm.list_models()` that builds it.

Field kinds, choices and `COMPONENTS` keys are decided per class (`describe_class`), so all architectures
of a class share one modeling file; `timm_classes.json` holds them for the installed timm (rebuilt by
`python -m timm_hub_template.maintenance classes`), else a class is described from one architecture.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

from timm_hub_template.introspection.encoding import ConfigEncoder, _has_dicts, _is_component
from timm_hub_template.introspection.source import Unrepresentable
from timm_hub_template.introspection.spec import Kind


def _parameters(model_cls: type) -> dict[str, inspect.Parameter]:
    """The constructor parameters that can be config fields (not `self`, `num_classes`, `*args`, `**kwargs`)."""
    parameters = inspect.signature(model_cls.__init__).parameters
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {
        name: parameter
        for name, parameter in parameters.items()
        if name not in ("self", "num_classes") and parameter.kind not in variadic
    }


def _inherited_default(model_cls: type, name: str) -> Any:
    """The default a parent class gives an argument the class forwards through `**kwargs` (deit, levit ...)."""
    for base in model_cls.__mro__[1:]:
        parameter = inspect.signature(base.__init__).parameters.get(name) if "__init__" in vars(base) else None
        if parameter is not None and parameter.default is not parameter.empty:
            return parameter.default
    return inspect.Parameter.empty


_NOT_A_CHOICE = object()


def _choices(encoder: ConfigEncoder, value: Any) -> set[Any]:
    """The choices a component field's value offers; a sequence (one component per stage) offers each item's."""
    if isinstance(value, (list, tuple)):
        return set().union(*(_choices(encoder, item) for item in value))
    choice = _choice(encoder, value)
    return set() if choice is _NOT_A_CHOICE else {choice}


def _choice(encoder: ConfigEncoder, value: Any) -> Any:
    """What a component field's value offers as a choice: the component's key, or the value (a name, None)."""
    if _is_component(value):
        return encoder.component(value.func if isinstance(value, functools.partial) else value)
    if isinstance(value, (list, tuple, dict)):
        return _NOT_A_CHOICE
    return value


def _ordered_choices(choices: set[Any]) -> tuple[Any, ...]:
    """COMPONENTS keys and factory names sorted, then the other values (True, ...), None last."""
    names = sorted(choice for choice in choices if isinstance(choice, str))
    others = sorted((choice for choice in choices if not isinstance(choice, str) and choice is not None), key=repr)
    return (*names, *others, *((None,) if None in choices else ()))


CLASSES_FILE = Path(__file__).parent.parent / "timm_classes.json"
# timm's layer factories, and the argument names a model module's source calls them on.
FACTORY_CALL = re.compile(
    r"\b(get_act_layer|get_norm_layer|get_norm_act_layer|create_attn|get_attn|create_aa)\(\s*(\w+)\s*[,)]"
)


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """What all architectures of one timm class share: fields, their kinds and choices, component keys."""

    fields: tuple[str, ...]  # constructor parameters and forwarded arguments, in order
    kinds: dict[str, Kind]
    choices: dict[str, tuple[Any, ...]]  # component fields: what the class's architectures use, or timm resolves
    keys: dict[str, str]  # component reference (`module:qualname`) -> COMPONENTS key
    reserved: frozenset[str]  # names component keys must not take (the names timm's factories resolve)
    partials: bool  # some architecture gives a component arguments
    pruned: bool  # some architecture is a timm `*_pruned` model

    def to_json(self) -> dict[str, Any]:
        fields = {}
        for name in self.fields:
            fields[name] = {"kind": self.kinds[name].value}
            if name in self.choices:
                fields[name]["choices"] = list(self.choices[name])
        components = {key: reference for reference, key in sorted(self.keys.items(), key=lambda item: item[1])}
        return {"fields": fields, "components": components, "partials": self.partials, "pruned": self.pruned}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClassInfo:
        fields = data["fields"]
        return cls(
            fields=tuple(fields),
            kinds={name: Kind(entry["kind"]) for name, entry in fields.items()},
            choices={name: tuple(entry["choices"]) for name, entry in fields.items() if "choices" in entry},
            keys={reference: key for key, reference in data["components"].items()},
            reserved=_reserved_names(),
            partials=data["partials"],
            pruned=data["pruned"],
        )


def class_key(model_cls: type) -> str:
    return f"{model_cls.__module__}:{model_cls.__qualname__}"


@functools.cache
def factory_names() -> dict[str, tuple[str, ...]]:
    """The names each of timm's layer factories resolves (`get_act_layer("relu")`, `create_aa("blurpc")` ...)."""
    blur_pool, create_act, create_attn, create_norm, create_norm_act = (
        importlib.import_module(f"timm.layers.{name}")
        for name in ("blur_pool", "create_act", "create_attn", "create_norm", "create_norm_act")
    )
    attn = tuple(sorted(re.findall(r"attn_type == '(\w+)'", inspect.getsource(create_attn.get_attn))))
    tests = [line for line in inspect.getsource(blur_pool._normalize_aa_layer).splitlines() if "if key" in line]
    aa = tuple(sorted(re.findall(r"'(\w+)'", " ".join(tests))))
    return {
        "get_act_layer": tuple(sorted(create_act._ACT_LAYER_DEFAULT)),
        "get_norm_layer": tuple(sorted(create_norm._NORM_MAP)),
        "get_norm_act_layer": tuple(sorted(create_norm_act._NORM_ACT_MAP)),
        "get_attn": attn,
        "create_attn": attn,
        "create_aa": aa,
    }


def _reserved_names() -> frozenset[str]:
    return frozenset(name for names in factory_names().values() for name in names)


def _factory_arguments(model_cls: type) -> dict[str, set[str]]:
    """Argument names that the class's module (and its parents' modules) pass to timm's layer factories."""
    found: dict[str, set[str]] = {}
    modules = {base.__module__ for base in model_cls.__mro__ if base.__module__.startswith("timm.")}
    for module in sorted(modules):
        try:
            text = inspect.getsource(sys.modules[module])
        except (OSError, TypeError, KeyError):
            continue
        for factory, argument in FACTORY_CALL.findall(text):
            found.setdefault(argument, set()).add(factory)
    return found


def _layer_annotation(parameter: inspect.Parameter | None) -> bool:
    """Whether a parameter is annotated as a layer type or callable (`LayerType`, `Type[nn.Module]`, `Callable`)."""
    if parameter is None or parameter.annotation is parameter.empty:
        return False
    text = parameter.annotation if isinstance(parameter.annotation, str) else repr(parameter.annotation)
    return any(marker in text for marker in ("LayerType", "Type[", "type[", "Callable"))


def describe_class(model_cls: type, captures: list[tuple[str, dict[str, Any], bool]]) -> tuple[ClassInfo, list[str]]:
    """The ClassInfo of `model_cls` from its architectures' captured constructor arguments (name, kwargs, pruned).

    Returns it with the names of the architectures no config can hold (they fall back to building by name).
    """
    parameters = _parameters(model_cls)
    names = list(parameters)
    for _, kwargs, _ in captures:
        names += [name for name in kwargs if name not in parameters and name != "num_classes" and name not in names]
    reserved = _reserved_names()
    factories = _factory_arguments(model_cls)
    encoder = ConfigEncoder(reserved=reserved)
    values: dict[str, list[Any]] = {name: [] for name in names}
    for name in names:  # class defaults first, so their keys are the plain names
        parameter = parameters.get(name)
        default = parameter.default if parameter is not None else _inherited_default(model_cls, name)
        if default is inspect.Parameter.empty:
            continue
        trial = ConfigEncoder(encoder.keys, reserved)
        try:
            trial.encode(default)
        except Unrepresentable:
            continue
        encoder.keys, encoder.used_partial = trial.keys, encoder.used_partial or trial.used_partial
        values[name].append(default)
    fallbacks, pruned = [], False
    for architecture, kwargs, is_pruned in sorted(captures, key=lambda capture: capture[0]):
        trial = ConfigEncoder(encoder.keys, reserved)
        try:
            for name, value in kwargs.items():
                if name != "num_classes":
                    trial.encode(value)
        except Unrepresentable:
            fallbacks.append(architecture)
            continue
        encoder.keys, encoder.used_partial = trial.keys, encoder.used_partial or trial.used_partial
        pruned = pruned or is_pruned
        for name, value in kwargs.items():
            if name != "num_classes":
                values[name].append(value)
    kinds, choices = {}, {}
    for name in names:
        seen = values[name]
        layer_like = _layer_annotation(parameters.get(name)) or name in factories
        nested = any(isinstance(value, (list, tuple, dict)) for value in seen)
        if any(_is_component(value) for value in seen) or (layer_like and not nested):
            kinds[name] = Kind.COMPONENT
            offered = set().union(*(_choices(encoder, value) for value in seen))
            names_used = {value for value in seen if isinstance(value, str)}
            # The factories the module calls on this argument; else the first that knows the names it is given.
            known = factories.get(name) or next(
                (
                    {factory}
                    for factory, accepted in factory_names().items()
                    if names_used and names_used <= set(accepted)
                ),
                set(),
            )
            for factory in known:
                offered.update(factory_names()[factory])
            choices[name] = _ordered_choices(offered)
        elif any(_has_dicts(encoder.encode(value)) for value in seen):
            kinds[name] = Kind.STRUCTURE
        else:
            kinds[name] = Kind.PLAIN
    info = ClassInfo(tuple(names), kinds, choices, dict(encoder.keys), reserved, encoder.used_partial, pruned)
    return info, fallbacks


@functools.cache
def class_table() -> dict[str, Any]:
    """timm_classes.json when it describes the installed timm, else nothing (each class is then described from
    the architecture being generated alone)."""
    import timm

    try:
        data = json.loads(CLASSES_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return data["classes"] if data.get("timm") == timm.__version__ else {}


def class_architectures(model_cls: type | str) -> tuple[str, ...]:
    """The architectures of timm.list_models() built by `model_cls` (from timm_classes.json)."""
    key = model_cls if isinstance(model_cls, str) else class_key(model_cls)
    return tuple(class_table().get(key, {}).get("architectures", ()))


def class_info(model_cls: type, name: str, kwargs: dict[str, Any], pruned: bool) -> ClassInfo:
    """The ClassInfo of `model_cls` from timm_classes.json, or from this architecture alone."""
    entry = class_table().get(class_key(model_cls))
    if entry is not None:
        return ClassInfo.from_json(entry)
    return describe_class(model_cls, [(name, kwargs, pruned)])[0]
