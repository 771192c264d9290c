"""Find out how timm builds an architecture, and describe it as config fields plus Python source.

Every timm entrypoint ends in `build_model_with_cfg(model_cls, variant, pretrained, **kwargs)`, which completes the
kwargs from the pretrained config (`num_classes`, `in_chans`, `img_size`) and then calls `model_cls(**kwargs)`.
Recording that call while building the model on the meta device gives the exact constructor arguments of any
architecture in seconds, without allocating weights.

The recorded arguments become config fields in one of three kinds, decided for the timm class as a whole (every
architecture of `timm.list_models()` built by it, listed in `timm_classes.json`), so that all architectures of a
class share one modeling file and differ only in config values:
- plain: JSON values (numbers, strings, tuples), written as they are;
- component: a class or function, named by a key of the modeling file's `COMPONENTS` mapping (like `BLOCK_MAPPING`
  in the Transformers guide), a name timm's own factories resolve (`"relu"`, `"groupnorm"`), or None; a
  `functools.partial` is the dict `{"__component__": key, **arguments}`, so its arguments are config data too;
- structure: JSON with dicts inside (block lists, dataclass configs), where components with arguments and
  dataclasses are tagged as `{"__component__": key, ...}` and `{"__dataclass__": key, **fields}`; the modeling
  file's `resolve()` rebuilds them, on fresh copies since some timm constructors edit their arguments.
A component without arguments is written as its bare key (`"BatchNorm2d"`), at any depth (`plain_components`);
`resolve()` reads a string that is a `COMPONENTS` key as that component, and the tagged dict still loads.
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
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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


class Kind(enum.Enum):
    """How a config field holds a constructor argument, and how the modeling file passes it on."""

    PLAIN = "plain"  # JSON as it is: `config.x`
    COMPONENT = "component"  # a COMPONENTS key, a tagged dict with arguments, a factory name or None
    STRUCTURE = "structure"  # JSON with tagged components and dataclasses inside: `resolve(config.x)`
    GENERATOR = "generator"  # timm's generator vocabulary (`arch_def` ...): see generator_fields.py


@dataclasses.dataclass(frozen=True)
class Field:
    """One explicit constructor argument, as a config field."""

    name: str  # the config attribute
    value: Any  # the value in config form: JSON, a component key, or tagged JSON
    kind: Kind
    choices: tuple[Any, ...] = ()  # what a component field may name: COMPONENTS keys, factory names, None
    parameter: str = ""  # the constructor argument, when it differs from `name`
    constant: bool = False  # the configuration file names its default as a module constant (`ARCH_DEF`)

    @property
    def argument_name(self) -> str:
        return self.parameter or self.name

    @property
    def nested(self) -> bool:
        """Whether the value holds dicts: the configuration file then names its default as a module constant."""
        return self.constant or _has_dicts(self.value)


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
    pruned: bool  # built narrowed by timm's pruning file (`pruned_variant` names it)
    prunable: bool  # the class has pruned architectures: its config has a `pruned_variant` field
    uses_partial: bool  # some architecture of the class gives a component arguments
    fallback_reason: str  # empty when the fields are explicit
    num_classes: int
    in_chans: int  # the input channels timm builds the model for (the processor converts images to match)
    classifier: tuple[str, ...]  # head module names from timm's pretrained_cfgs of the class
    shared: tuple[tuple[str, str], ...]  # (parameter, the parameter it is) where timm shares modules (coat)
    model_args: dict[str, Any]  # keyword arguments of timm.create_model besides the name and head size
    stage_names: tuple[str, ...]  # modules of timm's feature_info: the backbone's feature maps
    pretrained_cfg: dict[str, Any]
    supports_gradient_checkpointing: bool  # timm's set_grad_checkpointing works on this model
    # Constructor arguments the modeling file builds from generator fields (`block_args`, ...): generator_fields.py
    generator_arguments: tuple[str, ...] = ()
    pools: bool = True  # timm's forward_head pools the features (encoders without a head refuse: Qwen3VitEncoder)

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
        """Fields that name a component (checked against their choices by the config)."""
        return tuple(field for field in self.fields if field.kind is Kind.COMPONENT)

    @property
    def uses_resolve(self) -> bool:
        return any(field.kind is not Kind.PLAIN for field in self.fields)

    @property
    def config_values(self) -> dict[str, Any]:
        """The config.json values of the explicit fields: what makes this architecture from any of its class."""
        values = {field.name: field.value for field in self.fields}
        if self.prunable:
            values["pruned_variant"] = self.name if self.pruned else None
        return values


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
    as `timm.create_model(architecture, num_classes=..., **model_args)` does. The fields, their kinds and
    choices, and `COMPONENTS` are those of the architecture's timm class (from timm_classes.json), so every
    architecture of the class gets the same modeling file.
    """
    import timm
    import torch

    from timm_hub_template.generator_fields import arrange, generator_form, record_generator_calls

    name, tag = split_architecture(architecture)
    with capture_constructor_calls() as capture, record_generator_calls(name) as generator_calls, torch.device("meta"):
        overrides = {} if num_classes is None else {"num_classes": num_classes}
        model = timm.create_model(architecture.strip(), pretrained=False, **json.loads(model_args), **overrides)
    pretrained_cfg = dict(model.pretrained_cfg)
    tag = tag or pretrained_cfg.get("tag") or ""
    model_cls, kwargs = capture.model_cls, capture.kwargs
    assert model_cls is not None, f"timm built {name} without build_model_with_cfg"

    writer = SourceWriter()
    fields: list[Field] = []
    components: list[tuple[str, str]] = []
    fallback_reason = ""
    info = class_info(model_cls, name, kwargs, capture.pruned)
    generator = generator_form(model_cls, kwargs, generator_calls)
    try:
        encoder = ConfigEncoder(info.keys, info.reserved)
        if generator is None:
            fields = _fields(model_cls, kwargs, encoder, info)
        else:  # timm's compact description; the decoded blocks only where it does not rebuild them
            generator_kwargs = {**kwargs, "block_args": generator.block_args}
            fields = arrange(_fields(model_cls, generator_kwargs, encoder, info), generator)
            for module, function in generator.imports:
                writer.import_name(module, function)
        model_class_source = writer.add(model_cls)
        # Every component of the class, so that its architectures share one modeling file.
        for reference, key in sorted(encoder.keys.items(), key=lambda item: item[1]):
            components.append((key, writer.add(object_of(reference))))
        prunable = info.pruned or capture.pruned
        if prunable:  # timm narrows `*_pruned` models after construction, from its own channel file
            writer.import_name("timm.models._prune", "adapt_model_from_file")
        uses_partial = info.partials or encoder.used_partial
        if uses_partial:
            writer.import_name("functools", "partial")
    except Unrepresentable as error:
        fallback_reason = error.args[0]
        writer, fields, components, model_class_source = SourceWriter(), [], [], ""
        uses_partial = prunable = False

    return ArchitectureSpec(
        name=name,
        tag=tag,
        model_class=model_cls.__qualname__,
        model_module=model_cls.__module__,
        model_class_source=model_class_source,
        fields=tuple(fields),
        components=tuple(components),
        imports=writer.imports,
        passes_num_classes="num_classes" in kwargs,
        pruned=capture.pruned,
        prunable=prunable,
        uses_partial=uses_partial,
        fallback_reason=fallback_reason,
        num_classes=int(kwargs.get("num_classes", getattr(model, "num_classes", 0)) or 0),
        in_chans=int(kwargs.get("in_chans", 3)),
        classifier=_classifiers(model_cls, pretrained_cfg),
        shared=_shared_parameters(model),
        model_args=json.loads(model_args),
        stage_names=_stage_names(model),
        pretrained_cfg=json_safe(pretrained_cfg),
        supports_gradient_checkpointing=_supports_gradient_checkpointing(model),
        generator_arguments=generator.replaced if generator is not None and not fallback_reason else (),
        pools=pools(model),
    )


def _classifiers(model_cls: type, pretrained_cfg: dict[str, Any]) -> tuple[str, ...]:
    """The head module names of timm's pretrained configs, for every architecture of the class (the same list
    in all their modeling files: a name another architecture uses is never in this one's checkpoints)."""
    from timm.models import get_pretrained_cfg

    names = set()
    configs = [get_pretrained_cfg(name) for name in class_architectures(model_cls)]
    for classifier in [pretrained_cfg.get("classifier")] + [cfg.classifier for cfg in configs if cfg is not None]:
        names.update([classifier] if isinstance(classifier, str) else classifier or ())
    return tuple(sorted(names))


def _supports_gradient_checkpointing(model: Any) -> bool:
    """Asked of timm's model as Transformers' TimmWrapper does: some have the method and refuse."""
    if not hasattr(model, "set_grad_checkpointing"):
        return False
    try:
        model.set_grad_checkpointing(enable=True)
        model.set_grad_checkpointing(enable=False)
    except (AssertionError, NotImplementedError, RuntimeError):  # as the generated modeling file does
        return False
    return True


def pools(model: Any) -> bool:
    """Whether timm's `forward_head(features, pre_logits=True)` pools. timm's encoders without a head
    (Qwen3VitEncoder, Gemma4VitEncoder, DeepseekVitEncoder) raise NotImplementedError before reading the
    features, which a meta tensor of any shape shows (MobileNetV5Encoder's takes no `pre_logits`); a model with a
    classifier always pools."""
    import torch

    if getattr(model, "num_classes", 0):
        return True
    if "pre_logits" not in inspect.signature(model.forward_head).parameters:
        return False
    try:
        model.forward_head(torch.empty(1, 1, 1, model.num_features, device="meta"), pre_logits=True)
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001 - a shape the probe does not match: the head ran, so it exists
        return True
    return True


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


def _fields(model_cls: type, kwargs: dict[str, Any], encoder: ConfigEncoder, info: ClassInfo) -> list[Field]:
    """Every explicit constructor parameter of the class, at the architecture's value, plus forwarded ones."""
    parameters = _parameters(model_cls)
    names = list(info.fields) + [name for name in kwargs if name not in info.fields and name != "num_classes"]
    names += [name for name in parameters if name not in names]
    fields = []
    data_strings: set[str] = set()  # strings that structures hold as data, which `resolve()` passes on as they are
    for name in names:
        parameter = parameters.get(name)
        if name in RESERVED_NAMES and name not in kwargs:
            continue  # `device`, `dtype` ...: Transformers sets these, the class default applies
        default = parameter.default if parameter is not None else _inherited_default(model_cls, name)
        if name in kwargs:
            value = kwargs[name]
        elif default is inspect.Parameter.empty and parameter is None:
            continue  # forwarded by other architectures of the class, with no default we can see (hrnet)
        elif default is inspect.Parameter.empty:
            raise Unrepresentable(f"required argument `{name}` was not passed")
        else:
            value = default
        try:
            field = _field(encoder, name, value, info)
        except Unrepresentable as error:
            if name not in kwargs:
                continue  # a default we cannot write stays the class's own default
            raise Unrepresentable(f"argument `{name}` holds {error.args[0]}") from error
        if field.kind is Kind.STRUCTURE:
            data_strings |= _plain_strings(field.value)
        fields.append(_renamed(dataclasses.replace(field, value=plain_components(field.value))))
    # `resolve()` reads a COMPONENTS key as its component: a string that is data must not be one.
    clashes = sorted(data_strings & set(encoder.keys.values()))
    if clashes:
        raise Unrepresentable(f"the string {clashes[0]!r}, which is also the name of a component")
    return fields


def _field(encoder: ConfigEncoder, name: str, value: Any, info: ClassInfo) -> Field:
    kind = info.kinds.get(name, Kind.PLAIN)
    if kind is Kind.COMPONENT or _is_component(value):
        encoded = encoder.encode_component(value)
        choices = set(info.choices.get(name, ())) | _choices(encoder, value)
        return Field(name, encoded, Kind.COMPONENT, _ordered_choices(choices))
    encoded = encoder.encode(value)
    # Dicts go through `resolve()` too, which copies them: timm constructors may edit them in place.
    return Field(name, encoded, Kind.STRUCTURE if kind is Kind.STRUCTURE or _has_dicts(encoded) else Kind.PLAIN)


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


def _renamed(field: Field) -> Field:
    if field.name not in RENAMED_NAMES:
        return field
    return dataclasses.replace(field, name=f"timm_{field.name}", parameter=field.name)


# The timm class as a whole: every architecture of timm.list_models() that builds it.

CLASSES_FILE = Path(__file__).with_name("timm_classes.json")
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


def json_safe(value: Any) -> Any:
    """`value` as JSON values: tuples as lists, keys as strings, other objects as their `str`."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
