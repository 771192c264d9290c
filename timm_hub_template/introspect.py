"""Find out how timm builds an architecture, and describe it as config fields plus Python source.

Every timm entrypoint ends in `build_model_with_cfg(model_cls, variant, pretrained, **kwargs)`, which completes the
kwargs from the pretrained config (`num_classes`, `in_chans`, `img_size`) and then calls `model_cls(**kwargs)`.
Recording that call while building the model on the meta device gives the exact constructor arguments of any
architecture in seconds, without allocating weights.

The recorded arguments become config fields in one of three forms:
- plain: JSON values (numbers, strings, tuples, dicts), written as they are;
- component: a class, function or `functools.partial`, named by a readable key of the modeling file's
  `COMPONENTS` mapping (like `BLOCK_MAPPING` in the Transformers guide);
- structure: JSON with dicts inside (block lists, dataclass configs), where components and dataclasses are
  tagged as `{"__component__": key}` and `{"__dataclass__": key, **fields}`; the modeling file's `resolve()`
  rebuilds them, on fresh copies since some timm constructors edit their arguments.
Arguments that no config can hold (module instances, lambdas, local closures) make the architecture fall back
to `timm.create_model(name)`, the way Transformers' TimmWrapper builds every model.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import importlib
import inspect
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

COMPONENT_TAG = "__component__"
DATACLASS_TAG = "__dataclass__"

# Constructor parameters that Transformers' PreTrainedConfig also uses. Left to the class default when the
# architecture does not set them; otherwise the config field is called `timm_<name>`.
RESERVED_NAMES = frozenset(
    {"device", "dtype", "architectures", "problem_type", "return_dict", "output_hidden_states", "output_attentions"}
)
# Names the config itself uses: PreTrainedConfig's `validate_architecture` checks
# head_dim * num_heads == embed_dim, and the backbone settings are BackboneConfigMixin's.
RENAMED_NAMES = frozenset({"head_dim", "out_features", "out_indices", "stage_names"}) | RESERVED_NAMES


class UnknownArchitectureError(ValueError):
    """The name is not a timm architecture (or the tag is not one of its pretrained tags)."""


class Unrepresentable(ValueError):
    """A constructor argument that neither JSON nor Python source in the modeling file can hold."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One explicit constructor argument, as a config field."""

    name: str  # the config attribute
    value: Any  # the value in config form: JSON, a component key, or tagged JSON
    kind: str  # "plain", "component" or "structure"
    choices: tuple[str, ...] = ()  # component keys this field may take
    parameter: str = ""  # the constructor argument, when it differs from `name`

    @property
    def argument_name(self) -> str:
        return self.parameter or self.name

    @property
    def argument(self) -> str:
        """The Python expression that passes this field to the timm class in the modeling file."""
        if self.kind == "component":
            return f"COMPONENTS[config.{self.name}]"
        if self.kind == "structure":
            return f"resolve(config.{self.name})"
        return f"config.{self.name}"


@dataclasses.dataclass(frozen=True)
class ArchitectureSpec:
    """Everything the templates and the export need to know about one timm architecture."""

    name: str  # architecture without the pretrained tag, e.g. "resnet50d"
    tag: str  # pretrained tag, e.g. "a1_in1k" (timm's default tag when none was given)
    model_class: str  # e.g. "ResNet"
    model_module: str  # e.g. "timm.models.resnet"
    model_class_source: str  # how the modeling file names the class ("ResNet", or "" for the fallback)
    fields: tuple[Field, ...]
    components: tuple[tuple[str, str], ...]  # (key, Python source) of the modeling file's COMPONENTS
    imports: tuple[tuple[str, str, str], ...]  # (module, name, alias) imported by the modeling file
    passes_num_classes: bool
    pruned: bool
    fallback_reason: str  # empty when the fields are explicit
    num_classes: int
    in_chans: int
    classifier: tuple[str, ...]  # head module names from timm's pretrained_cfg
    shared: tuple[tuple[str, str], ...]  # (parameter, the parameter it is) where timm shares modules (coat)
    model_args: dict[str, Any]  # keyword arguments of timm.create_model besides the name and head size
    stage_names: tuple[str, ...]  # modules of timm's feature_info: the backbone's feature maps
    pretrained_cfg: dict[str, Any]

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.tag}" if self.tag else self.name

    @property
    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of `timm.create_model` that build this spec's model: its model args and head."""
        return {**self.model_args, **({"num_classes": self.num_classes} if self.passes_num_classes else {})}

    @property
    def explicit(self) -> bool:
        return not self.fallback_reason

    @property
    def component_fields(self) -> tuple[Field, ...]:
        """Fields that name a `COMPONENTS` entry (checked against their choices by the config)."""
        return tuple(field for field in self.fields if field.kind == "component")

    @property
    def uses_resolve(self) -> bool:
        return any(field.kind == "structure" for field in self.fields)

    @property
    def uses_partial(self) -> bool:
        return any(module == "functools" and name == "partial" for module, name, _ in self.imports)


class SourceWriter:
    """Writes Python expressions for timm objects and collects the imports they need."""

    def __init__(self) -> None:
        self._aliases: dict[tuple[str, str], str] = {}

    @property
    def imports(self) -> tuple[tuple[str, str, str], ...]:
        return tuple(sorted((module, name, alias) for (module, name), alias in self._aliases.items()))

    def import_name(self, module: str, name: str) -> str:
        """Import `name` from `module` and return the local name to use for it."""
        if (module, name) in self._aliases:
            return self._aliases[(module, name)]
        taken = set(self._aliases.values())
        alias = name
        if alias in taken:
            prefix = "".join(part.title() for part in module.rsplit(".", 1)[-1].split("_"))
            alias = f"{prefix}{name}"
        self._aliases[(module, name)] = alias
        return alias

    def reference(self, obj: Any) -> str:
        """Source for an importable class, function or enum member, e.g. `nn.SiLU` or `Bottleneck`."""
        if isinstance(obj, enum.Enum):
            return f"{self.reference(type(obj))}.{obj.name}"
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if not module or not qualname or "<" in qualname or _lookup(module, qualname) is not obj:
            raise Unrepresentable(f"`{getattr(obj, '__qualname__', obj)}` (not importable by name)")
        import torch.nn

        if module.startswith("torch.nn.modules.") and getattr(torch.nn, qualname, None) is obj:
            return f"{self.import_name('torch', 'nn')}.{qualname}"
        top, _, rest = qualname.partition(".")
        local = self.import_name(module, top)
        return f"{local}.{rest}" if rest else local

    def source(self, value: Any) -> str:
        """Python source that evaluates to `value` (JSON values, tuples, references, partials, dataclasses)."""
        if isinstance(value, enum.Enum):  # before str and int: timm's Format is a str Enum
            return self.reference(value)
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise Unrepresentable(f"non-finite float {value!r}")
            return repr(value)
        if isinstance(value, tuple):
            items = [self.source(item) for item in value]
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        if isinstance(value, list):
            return f"[{', '.join(self.source(item) for item in value)}]"
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise Unrepresentable("dict with non-string keys")
            return "{" + ", ".join(f"{key!r}: {self.source(item)}" for key, item in value.items()) + "}"
        if isinstance(value, functools.partial):
            arguments = [self.reference(value.func)]
            arguments += [self.source(arg) for arg in value.args]
            arguments += [f"{key}={self.source(arg)}" for key, arg in value.keywords.items()]
            return f"{self.import_name('functools', 'partial')}({', '.join(arguments)})"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = ", ".join(f"{key}={self.source(arg)}" for key, arg in _changed_fields(value).items())
            return f"{self.reference(type(value))}({fields})"
        if isinstance(value, enum.Enum) or inspect.isclass(value) or inspect.isroutine(value):
            return self.reference(value)
        raise Unrepresentable(f"a {type(value).__name__} instance")


class ConfigEncoder:
    """Turns constructor arguments into config values, collecting the components they name."""

    def __init__(self, writer: SourceWriter) -> None:
        self.writer = writer
        self.components: dict[str, str] = {}  # key -> Python source
        self._keys_by_source: dict[str, str] = {}

    def component(self, value: Any) -> str:
        """Register a class, function, enum member, dataclass type or partial; return its key."""
        source = self.writer.source(value)
        if source in self._keys_by_source:
            return self._keys_by_source[source]
        key = _component_name(value)
        suffix = 2
        while key in self.components:
            key, suffix = f"{_component_name(value)}_{suffix}", suffix + 1
        self.components[key] = source
        self._keys_by_source[source] = key
        return key

    def _written_as_registered(self, value: Any) -> bool:
        """Whether `value`'s source is a registered component's, asked of a copy so no import is added."""
        return copy.deepcopy(self.writer).source(value) in self._keys_by_source

    def encode(self, value: Any) -> Any:
        """The config form of a value nested in a structure: JSON with tagged components and dataclasses."""
        if isinstance(value, enum.Enum):
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
        return {COMPONENT_TAG: self.component(value)}

    def field(self, name: str, value: Any, default: Any = inspect.Parameter.empty) -> Field:
        """A config field for `value`; a component field also offers the class default when it has its own name."""
        if _is_component(value):
            key = self.component(value)
            choices = {key}
            if default is not inspect.Parameter.empty and _is_component(default):
                try:
                    if _component_name(default) not in self.components or self._written_as_registered(default):
                        choices.add(self.component(default))
                except Unrepresentable:
                    pass
            return Field(name, key, "component", tuple(sorted(choices)))
        encoded = self.encode(value)
        # Dicts go through `resolve()` too, which copies them: timm constructors may edit them in place.
        kind = "structure" if _has_dicts(encoded) else "plain"
        return Field(name, encoded, kind)


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


def _lookup(module: str, qualname: str) -> Any:
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


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


@dataclasses.dataclass
class Capture:
    """The last `model_cls(**kwargs)` call made by `build_model_with_cfg`."""

    model_cls: type | None = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    pruned: bool = False


@contextmanager
def capture_constructor_calls() -> Iterator[Capture]:
    """Record the class and kwargs that timm's `build_model_with_cfg` constructs, in every timm module."""
    import timm.models._builder as builder

    original = builder.build_model_with_cfg
    capture = Capture()

    def recording_build(model_cls: Callable, variant: str, pretrained: bool, **kwargs: Any) -> Any:
        pruned = bool(kwargs.get("pruned", False))

        def recording_cls(**model_kwargs: Any) -> Any:
            # Deep-copied before construction: some constructors edit their arguments (efficientnet block_args).
            capture.model_cls, capture.kwargs, capture.pruned = model_cls, copy.deepcopy(model_kwargs), pruned
            return model_cls(**model_kwargs)

        return original(recording_cls, variant, pretrained, **kwargs)

    patched = [m for m in list(sys.modules.values()) if getattr(m, "build_model_with_cfg", None) is original]
    patched = [m for m in patched if getattr(m, "__name__", "").startswith("timm.")]
    for module in patched:
        module.build_model_with_cfg = recording_build
    try:
        yield capture
    finally:
        for module in patched:
            module.build_model_with_cfg = original


def split_architecture(architecture: str) -> tuple[str, str]:
    """Split `resnet50d.ra2_in1k` into the timm name and the pretrained tag, checking both exist."""
    import timm
    from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

    name, tag = split_model_name_tag(architecture.strip())
    if not timm.is_model(name):
        raise UnknownArchitectureError(name)
    if tag and f"{name}.{tag}" not in get_arch_pretrained_cfgs(name):
        raise UnknownArchitectureError(f"{name}.{tag}")
    return name, tag


@functools.lru_cache(maxsize=64)
def inspect_architecture(
    architecture: str, num_classes: int | None = None, model_args: str = "{}"
) -> ArchitectureSpec:
    """Build `architecture` on the meta device and describe its constructor call (cached per arguments).

    `num_classes` replaces the architecture's head size and `model_args` (a JSON object) adds keyword arguments,
    as `timm.create_model(architecture, num_classes=..., **model_args)` does.
    """
    import timm
    import torch

    name, tag = split_architecture(architecture)
    with capture_constructor_calls() as capture, torch.device("meta"):
        overrides = {} if num_classes is None else {"num_classes": num_classes}
        model = timm.create_model(architecture.strip(), pretrained=False, **json.loads(model_args), **overrides)
    pretrained_cfg = dict(model.pretrained_cfg)
    tag = tag or pretrained_cfg.get("tag") or ""
    model_cls, kwargs = capture.model_cls, capture.kwargs
    assert model_cls is not None, f"timm built {name} without build_model_with_cfg"

    writer = SourceWriter()
    encoder = ConfigEncoder(writer)
    fields: list[Field] = []
    fallback_reason = ""
    try:
        fields = _fields(model_cls, kwargs, encoder)
        model_class_source = writer.reference(model_cls)
        if capture.pruned:  # timm narrows `*_pruned` models after construction, from its own channel file
            writer.import_name("timm.models._prune", "adapt_model_from_file")
    except Unrepresentable as error:
        fallback_reason = error.args[0]
        writer, encoder, fields, model_class_source = SourceWriter(), None, [], ""

    classifier = pretrained_cfg.get("classifier") or ()
    return ArchitectureSpec(
        name=name,
        tag=tag,
        model_class=model_cls.__qualname__,
        model_module=model_cls.__module__,
        model_class_source=model_class_source,
        fields=tuple(fields),
        components=tuple(encoder.components.items()) if encoder else (),
        imports=writer.imports,
        passes_num_classes="num_classes" in kwargs,
        pruned=capture.pruned,
        fallback_reason=fallback_reason,
        num_classes=int(kwargs.get("num_classes", getattr(model, "num_classes", 0)) or 0),
        in_chans=int(kwargs.get("in_chans", 3)),
        classifier=(classifier,) if isinstance(classifier, str) else tuple(classifier),
        shared=_shared_parameters(model),
        model_args=json.loads(model_args),
        stage_names=_stage_names(model),
        pretrained_cfg=_json_safe(pretrained_cfg),
    )


def _fields(model_cls: type, kwargs: dict[str, Any], encoder: ConfigEncoder) -> list[Field]:
    """Every explicit constructor parameter, at the architecture's value, plus captured extras."""
    parameters = inspect.signature(model_cls.__init__).parameters
    fields = []
    for name, parameter in parameters.items():
        if name in ("self", "num_classes") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in RESERVED_NAMES and name not in kwargs:
            continue  # `device`, `dtype` ...: Transformers sets these, the class default applies
        if name in kwargs:
            fields.append(_captured_field(encoder, name, kwargs[name], parameter.default))
        elif parameter.default is parameter.empty:
            raise Unrepresentable(f"required argument `{name}` was not passed")
        else:
            try:
                fields.append(_renamed(encoder.field(name, parameter.default, parameter.default)))
            except Unrepresentable:
                continue  # a default we cannot write stays the class's own default
    # Arguments the class forwards to a parent through **kwargs (deit, levit, hrnet ...).
    for name, value in kwargs.items():
        if name not in parameters and name != "num_classes":
            fields.append(_captured_field(encoder, name, value))
    return fields


def _captured_field(encoder: ConfigEncoder, name: str, value: Any, default: Any = inspect.Parameter.empty) -> Field:
    try:
        return _renamed(encoder.field(name, value, default))
    except Unrepresentable as error:
        raise Unrepresentable(f"argument `{name}` holds {error.args[0]}") from error


def _renamed(field: Field) -> Field:
    if field.name not in RENAMED_NAMES:
        return field
    return dataclasses.replace(field, name=f"timm_{field.name}", parameter=field.name)


def _stage_names(model: Any) -> tuple[str, ...]:
    """Names of the feature maps in timm's `feature_info` (`stage<i>` where module names repeat, as in coat)."""
    names = tuple(info["module"] for info in getattr(model, "feature_info", None) or ())
    return names if len(set(names)) == len(names) else tuple(f"stage{i}" for i in range(len(names)))


def _shared_parameters(model: Any) -> tuple[tuple[str, str], ...]:
    """Parameters that are the same tensor as an earlier one, e.g. coat's position encodings shared by blocks."""
    first: dict[int, str] = {}
    shared = []
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in first:
            shared.append((name, first[id(parameter)]))
        else:
            first[id(parameter)] = name
    return tuple(shared)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
