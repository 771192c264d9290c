"""`inspect_architecture`: one timm architecture (`name` or `name.tag`) as an `ArchitectureSpec`.

It captures the constructor call, encodes every argument as a config field of its class's kind, writes
the modeling file's source, and records what the generated files need of the model (classifier, feature
maps, shared parameters, pretrained config); an argument no config can hold makes it a fallback.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
from typing import Any

from timm_hub_template.introspection.capture import capture_constructor_calls
from timm_hub_template.introspection.classes import (
    ClassInfo,
    _choices,
    _inherited_default,
    _ordered_choices,
    _parameters,
    class_architectures,
    class_info,
)
from timm_hub_template.introspection.encoding import (
    ConfigEncoder,
    _has_dicts,
    _is_component,
    _plain_strings,
    json_safe,
    plain_components,
)
from timm_hub_template.introspection.generator_fields import arrange, generator_form, record_generator_calls
from timm_hub_template.introspection.source import SourceWriter, Unrepresentable, object_of
from timm_hub_template.introspection.spec import RENAMED_NAMES, RESERVED_NAMES, ArchitectureSpec, Field, Kind
from timm_hub_template.meta_build import on_meta_device


class UnknownArchitectureError(ValueError):
    """The name is not a timm architecture (or the tag is not one of its pretrained tags)."""


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

    name, tag = split_architecture(architecture)
    with capture_constructor_calls() as capture, record_generator_calls(name) as generator_calls, on_meta_device():
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
