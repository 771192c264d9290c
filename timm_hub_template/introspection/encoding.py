"""How a constructor argument becomes config data: JSON values, components and dataclasses tagged.

`ConfigEncoder` writes a value as JSON (a class or function as a `COMPONENTS` key, a `functools.partial`
as `{"__component__": key, **arguments}`, a dataclass as `{"__dataclass__": key, **changed fields}`),
and raises `Unrepresentable` for what no config can hold (module instances, lambdas, local closures).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
from typing import Any

from timm_hub_template.introspection.source import Unrepresentable, reference_of

COMPONENT_TAG = "__component__"
DATACLASS_TAG = "__dataclass__"


class ConfigEncoder:
    """Turns constructor arguments into config values, naming components by the keys of their timm class."""

    def __init__(self, keys: dict[str, str] | None = None, reserved: frozenset[str] = frozenset()) -> None:
        self.keys: dict[str, str] = dict(keys or {})  # reference -> key
        self.reserved = reserved  # names a component key must not take (names timm's factories resolve)
        self.used_partial = False

    def component(self, value: Any) -> str:
        """The key of a class, function, enum member or dataclass type (a new one if its class has none)."""
        reference = reference_of(value)
        if reference not in self.keys:
            taken = set(self.keys.values()) | self.reserved
            base = key = _component_name(value)
            if key in taken:
                key = f"{value.__module__.rsplit('.', 1)[-1]}.{base}"
            suffix = 2
            while key in taken:
                key, suffix = f"{base}_{suffix}", suffix + 1
            self.keys[reference] = key
        return self.keys[reference]

    def encode(self, value: Any) -> Any:
        """The config form of a value nested in a structure: JSON with tagged components and dataclasses."""
        if isinstance(value, functools.partial):
            self.used_partial = True
            tagged = {COMPONENT_TAG: self.component(value.func)}
            if value.args:
                raise Unrepresentable(f"`{_component_name(value)}` with positional arguments")
            return {**tagged, **{key: self.encode(item) for key, item in value.keywords.items()}}
        if isinstance(value, enum.Enum) or inspect.isclass(value) or inspect.isroutine(value):
            return {COMPONENT_TAG: self.component(value)}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise Unrepresentable(f"non-finite float {value!r}")
            return value
        if isinstance(value, (tuple, list)):
            return type(value)(self.encode(item) for item in value)
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise Unrepresentable("dict with non-string keys")
            if COMPONENT_TAG in value or DATACLASS_TAG in value:
                raise Unrepresentable(f"dict using the reserved keys {COMPONENT_TAG!r}/{DATACLASS_TAG!r}")
            return {key: self.encode(item) for key, item in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {key: self.encode(item) for key, item in _changed_fields(value).items()}
            return {DATACLASS_TAG: self.component(type(value)), **fields}
        raise Unrepresentable(f"a {type(value).__name__} instance")

    def encode_component(self, value: Any) -> Any:
        """The config form of a component field: a bare component is its key, anything else as in structures."""
        if _is_component(value) and not isinstance(value, functools.partial):
            return self.component(value)
        return self.encode(value)


def plain_components(value: Any) -> Any:
    """`value` with each component that has no arguments (`{"__component__": key}`) written as its bare key."""
    if isinstance(value, dict):
        if set(value) == {COMPONENT_TAG}:
            return value[COMPONENT_TAG]
        return {key: plain_components(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain_components(item) for item in value)
    return value


def _plain_strings(value: Any) -> set[str]:
    """The strings a structure holds as data (not the keys its tags name): a bare key must not be one of them."""
    if isinstance(value, dict):
        items = [item for key, item in value.items() if key not in (COMPONENT_TAG, DATACLASS_TAG)]
        return set().union(*(_plain_strings(item) for item in items))
    if isinstance(value, (list, tuple)):
        return set().union(*(_plain_strings(item) for item in value))
    return {value} if isinstance(value, str) else set()


def _is_component(value: Any) -> bool:
    return isinstance(value, (functools.partial, enum.Enum)) or inspect.isclass(value) or inspect.isroutine(value)


def _has_dicts(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_dicts(item) for item in value)
    return False


def _component_name(value: Any) -> str:
    if isinstance(value, functools.partial):
        return _component_name(value.func)
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return value.__name__


def _changed_fields(instance: Any) -> dict[str, Any]:
    """The init fields of a dataclass instance that differ from the field defaults."""
    changed = {}
    for field in dataclasses.fields(instance):
        if not field.init:
            continue
        value = getattr(instance, field.name)
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            changed[field.name] = value
            continue
        if not _same(value, default):
            changed[field.name] = value
    return changed


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - comparing exotic objects (tensors, modules) may raise anything
        return False


def json_safe(value: Any) -> Any:
    """`value` as JSON values: tuples as lists, keys as strings, other objects as their `str`."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
