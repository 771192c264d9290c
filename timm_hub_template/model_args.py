"""The `model_args` answer, checked against timm's constructor before anything is built for real.

`check_model_args` takes the names `timm.create_model(architecture, ...)` accepts, with values of the JSON type the
constructor's field holds; `pretrained_only_defaults` adds what an entrypoint sets only for its pretrained weights,
so a repository of other weights builds the same model.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from timm_hub_template.errors import AnswerError
from timm_hub_template.meta_build import on_meta_device

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

# Arguments of timm.create_model that are not the architecture's: the template sets them itself.
NOT_MODEL_ARGS = {
    "num_classes": "use the num_labels or labels variable",
    "pretrained": "use the weights variable",
    "pretrained_cfg": "use the architecture's pretrained tag",
    "pretrained_cfg_overlay": "use the data_config variable",
    "checkpoint_path": "use the weights variable",
    "features_only": "the repository always has the features model and, where timm has feature_info, a backbone",
}

# What a timm entrypoint sets only when `pretrained=True` (fbnetc_100: `kwargs.setdefault('bn_eps', 1e-3)` for its
# TF-trained weights), at the value the entrypoint builds with otherwise (torch's BatchNorm default). A repository of
# other weights states it in its model arguments, or `timm.create_model("hf-hub:...", pretrained=True)` would build
# the pretrained variant.
WITHOUT_PRETRAINED = {"bn_eps": 1e-5}


def pretrained_only_defaults(architecture: str) -> dict[str, Any]:
    """The `WITHOUT_PRETRAINED` arguments the architecture's entrypoint sets under `if pretrained:`."""
    import inspect

    from timm.models import model_entrypoint, split_model_name_tag

    source = inspect.getsource(model_entrypoint(split_model_name_tag(architecture)[0]))
    names = re.findall(r"if pretrained:\s*(?:#[^\n]*\n\s*)*kwargs\.setdefault\(['\"](\w+)['\"]", source)
    return {name: WITHOUT_PRETRAINED[name] for name in names if name in WITHOUT_PRETRAINED}


def check_model_args(spec: ArchitectureSpec, model_args: dict[str, Any], architecture: str) -> None:
    """Names `timm.create_model(architecture, ...)` takes, with values of the type the constructor's field holds
    (timm checks the rest). Besides the constructor's arguments, the architecture's own function may take more
    (`bn_eps`, `bn_momentum` of the generator-built families, as `train.py` passes them): those are asked of timm."""
    from timm_hub_template.introspection import Kind

    for name, value in model_args.items():
        if name in NOT_MODEL_ARGS:
            raise AnswerError(f"model_args cannot set {name}: {NOT_MODEL_ARGS[name]}")
    # Generator fields (`arch_def`, `channel_multiplier` ...) are not constructor arguments: timm's function takes
    # them, or refuses them (asked of timm below); the arguments they build are.
    fields = {field.argument_name: field for field in spec.fields if field.kind is not Kind.GENERATOR}
    valid = sorted({*fields, *spec.generator_arguments}) if spec.explicit else constructor_parameters(spec)
    for name, value in model_args.items():
        if name not in valid and not _factory_accepts(architecture, name, value):
            raise AnswerError(
                f"model_args: {name!r} is not an argument of timm's {spec.model_class} ({spec.name}); "
                f"valid: {', '.join(valid)}"
            )
        field = fields.get(name)
        if field is not None and field.kind is Kind.PLAIN and not _same_json_type(value, field.value):
            raise AnswerError(
                f"model_args: {name} must be {_json_type(field.value)} like {json.dumps(field.value)}, "
                f"not {json.dumps(value)}"
            )


def _factory_accepts(architecture: str, name: str, value: Any) -> bool:
    """Whether `timm.create_model(architecture, name=value)` gets past its keyword arguments (on the meta device);
    any other failure is left for the full build to report."""
    import timm

    try:
        with on_meta_device():
            timm.create_model(architecture, pretrained=False, **{name: value})
    except TypeError as problem:
        return "unexpected keyword argument" not in str(problem) and "got multiple values" not in str(problem)
    except Exception:  # noqa: BLE001 - a bad value, not an unknown name: the full build reports it
        return True
    return True


def constructor_parameters(spec: ArchitectureSpec) -> list[str]:
    """The named parameters of timm's class, for architectures whose fields are not explicit."""
    import importlib
    import inspect

    model_class = getattr(importlib.import_module(spec.model_module), spec.model_class)
    parameters = inspect.signature(model_class.__init__).parameters.values()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return sorted(p.name for p in parameters if p.kind in plain and p.name not in ("self", "num_classes"))


def _same_json_type(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    sizes = (int, list, tuple)  # timm sizes: 384 or (384, 288)
    if isinstance(default, sizes) and isinstance(value, sizes) and _all_ints(default) and _all_ints(value):
        return True
    return _json_type(value) == _json_type(default)


def _all_ints(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(item, int) and not isinstance(item, bool) for item in items)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
