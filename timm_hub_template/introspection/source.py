"""timm's objects by reference: `module:qualname` in timm_classes.json, imports in the modeling file.

`SourceWriter` writes the reference of a class or function as the modeling file imports it (aliased where
names clash); what is not importable by name is `Unrepresentable`.
"""

from __future__ import annotations

import enum
import importlib
from typing import Any


class Unrepresentable(ValueError):
    """A constructor argument that neither JSON nor Python source in the modeling file can hold."""


class SourceWriter:
    """Writes Python references to timm objects and collects the imports they need."""

    def __init__(self) -> None:
        self._aliases: dict[tuple[str, str], str] = {}

    @property
    def imports(self) -> tuple[tuple[str, str, str], ...]:
        return tuple(sorted((module, name, alias) for (module, name), alias in self._aliases.items()))

    def _alias(self, module: str, name: str) -> str:
        """The local name of `name` from `module`: imported ones as they are, new ones without a clash."""
        if (module, name) in self._aliases:
            return self._aliases[(module, name)]
        if name in self._aliases.values():
            return "".join(part.title() for part in module.rsplit(".", 1)[-1].split("_")) + name
        return name

    def import_name(self, module: str, name: str) -> str:
        """Import `name` from `module` and return the local name to use for it."""
        alias = self._aliases[(module, name)] = self._alias(module, name)
        return alias

    def add(self, obj: Any) -> str:
        """Import what `obj`'s reference needs; returns the reference, e.g. `nn.SiLU` or `Bottleneck`."""
        module, top, rest = self._parts(obj)
        local = self.import_name(module, top)
        return f"{local}.{rest}" if rest else local

    def source(self, obj: Any) -> str:
        """The reference `add` writes for `obj`, without importing anything (pure)."""
        module, top, rest = self._parts(obj)
        local = self._alias(module, top)
        return f"{local}.{rest}" if rest else local

    @staticmethod
    def _parts(obj: Any) -> tuple[str, str, str]:
        """(module to import from, name to import, attribute path after it) for an importable object."""
        if isinstance(obj, enum.Enum):
            module, top, rest = SourceWriter._parts(type(obj))
            return module, top, f"{rest}.{obj.name}" if rest else obj.name
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if not module or not qualname or "<" in qualname or _lookup(module, qualname) is not obj:
            raise Unrepresentable(f"`{getattr(obj, '__qualname__', obj)}` (not importable by name)")
        import torch.nn

        if module.startswith("torch.nn.modules.") and getattr(torch.nn, qualname, None) is obj:
            return "torch", "nn", qualname
        top, _, rest = qualname.partition(".")
        return module, top, rest


def reference_of(obj: Any) -> str:
    """`module:qualname` (enum members: `module:Class.MEMBER`), how timm_classes.json names a component."""
    if isinstance(obj, enum.Enum):
        return f"{reference_of(type(obj))}.{obj.name}"
    SourceWriter._parts(obj)  # refuses what is not importable by name
    return f"{obj.__module__}:{obj.__qualname__}"


def object_of(reference: str) -> Any:
    module, _, qualname = reference.partition(":")
    obj = _lookup(module, qualname)
    if obj is None:
        raise Unrepresentable(f"`{reference}` (not importable by name)")
    return obj


def _lookup(module: str, qualname: str) -> Any:
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj
