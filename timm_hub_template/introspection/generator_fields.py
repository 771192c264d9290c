"""Generator-level fields: timm's compact description of the classes it builds from block strings.

timm builds EfficientNet, MobileNetV3 (and MobileNetV5) architectures in generator functions such as
`_gen_efficientnet(variant, channel_multiplier=1.2, depth_multiplier=1.4)`: block strings per stage
(`"ir_r2_k3_s2_e6_c24_se0.25"`) go through `decode_arch_def` into `block_args`, channel counts through a
`round_channels` partial, and the head width is often `round_chs_fn(1280)`. The constructor receives only the
expanded result, which as config fields reads as hundreds of lines of block dicts.

While the entrypoint runs, `record_generator_calls` records the arguments of timm's own `decode_arch_def` and
`round_channels` as the generator calls them. `generator_form` then keeps the compact description only where it
rebuilds the constructor's arguments exactly: `decode_arch_def(recorded arguments)` equals the captured
`block_args`, the rounding settings are those of the captured `round_chs_fn`, and the head width follows from
a recorded `round_channels` call (or is given as is). Otherwise the decoded `block_args` stay, as an override.
The generated modeling file decodes the fields with the same public builders of
`timm.models._efficientnet_builder`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import linecache
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from timm_hub_template.introspection.spec import Field, Kind

BUILDER = "timm.models._efficientnet_builder"
# The constructor arguments the generator fields replace, in the order the modeling file passes them.
REPLACED = ("block_args", "num_features", "round_chs_fn")
# decode_arch_def's arguments besides `arch_def`, with its defaults (the config's values when block_args is set).
DECODE_DEFAULTS = {
    "depth_multiplier": 1.0,
    "depth_trunc": "ceil",
    "experts_multiplier": 1,
    "fix_first_last": False,
    "group_size": None,
}
# round_channels' settings, as the generators name them (`channel_multiplier`, `channel_divisor`), with defaults.
ROUNDING = {"multiplier": "channel_multiplier", "divisor": "channel_divisor"}
ROUND_DEFAULTS = {"channel_multiplier": 1.0, "channel_divisor": 8, "channel_min": None, "round_limit": 0.9}
# The generator fields, in the order a person reads them, then the override.
FIELDS = ("arch_def", *DECODE_DEFAULTS, *ROUND_DEFAULTS, "num_features", "num_features_rounding")
OVERRIDE = "block_args"
# What each generator field means, for the config class's `Args:` where timm's class documents no such argument
# (timm's builders have no Args sections).
FIELD_DOCS = {
    "arch_def": 'timm\'s block strings, one list per stage (`"ir_r2_k3_s2_e6_c24_se0.25"`: inverted residual, 2 '
    "repeats, kernel 3, stride 2, expansion 6, 24 channels, squeeze-excite 0.25), decoded by `decode_arch_def`.",
    "depth_multiplier": "Multiplies each stage's repeats (`decode_arch_def`), rounded by `depth_trunc`.",
    "depth_trunc": "How scaled repeats are rounded: 'ceil' or 'round'.",
    "experts_multiplier": "Multiplies the experts of CondConv blocks (`decode_arch_def`).",
    "fix_first_last": "Keeps the first and last stages at their repeats when scaling depth.",
    "group_size": "Channels per group of grouped convolutions, or None for depthwise.",
    "channel_multiplier": "Multiplies every channel count, rounded by `round_channels` (the width multiplier).",
    "channel_divisor": "Channel counts are rounded to a multiple of this (`round_channels`).",
    "channel_min": "The smallest channel count after rounding, or None for `channel_divisor`.",
    "round_limit": "Rounding down may not remove more than 1 - round_limit of the channels (`round_channels`).",
    "num_features_rounding": "How the head width follows `channel_multiplier`: 'round' rounds `num_features`, "
    "'max' never goes below it, None keeps it as is.",
    "block_args": "Decoded blocks used instead of `arch_def` (an override), or None.",
}


@dataclasses.dataclass
class GeneratorCalls:
    """The generator's own calls of `decode_arch_def` and `round_channels`: (arguments, result, the source line
    of the call) each."""

    decoded: list[tuple[dict[str, Any], Any, str]] = dataclasses.field(default_factory=list)
    rounded: list[tuple[dict[str, Any], Any, str]] = dataclasses.field(default_factory=list)


@contextmanager
def record_generator_calls(architecture: str) -> Iterator[GeneratorCalls]:
    """Record the calls of timm's `decode_arch_def` and `round_channels` made by the generator functions while
    `architecture` (a timm name without its tag) is created.

    A profile function sees each call whichever way it is made (by name, or through the `round_chs_fn` partial),
    without replacing any timm object, so the constructor's arguments stay timm's own. Calls from a constructor
    (`__init__`) or from the block builder are the model rounding its own channels, not the generator: left out.
    Profiling slows every Python call, so it watches only the entrypoints of modules that decode block strings,
    and only until the model's construction starts (the generator has made its calls by then).
    """
    import timm.models._efficientnet_builder as builder
    from timm.models import model_entrypoint
    from torch.nn import Module

    calls = GeneratorCalls()
    module = sys.modules[model_entrypoint(architecture).__module__]
    if getattr(module, "decode_arch_def", None) is not builder.decode_arch_def:
        yield calls
        return
    watched = {builder.decode_arch_def.__code__: calls.decoded, builder.round_channels.__code__: calls.rounded}
    pending: dict[Any, tuple[list, dict[str, Any], str]] = {}

    def profile(frame: Any, event: str, value: Any) -> None:
        records = watched.get(frame.f_code)
        if records is None:
            constructing = event == "call" and frame.f_code.co_name == "__init__"
            if constructing and isinstance(frame.f_locals.get("self"), Module):
                sys.setprofile(previous)  # the model's first module is being built
            return
        if event == "call":
            caller = frame.f_back
            if caller is None or caller.f_code.co_name == "__init__" or caller.f_globals.get("__name__") == BUILDER:
                return
            line = linecache.getline(caller.f_code.co_filename, caller.f_lineno)
            pending[frame] = (records, copy.deepcopy(dict(frame.f_locals)), line)
        elif event == "return" and frame in pending:
            records, arguments, line = pending.pop(frame)
            records.append((arguments, copy.deepcopy(value), line))

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


def is_generator_class(model_cls: type) -> bool:
    """Whether timm's class takes decoded block strings and a channel rounding function (the builder's input)."""
    parameters = inspect.signature(model_cls.__init__).parameters
    return "block_args" in parameters and "round_chs_fn" in parameters


@dataclasses.dataclass(frozen=True)
class GeneratorForm:
    """An architecture's generator fields: their values, and which constructor arguments they replace."""

    values: dict[str, Any]  # field name -> value (JSON), the override `block_args` included
    replaced: tuple[str, ...]  # constructor arguments built from the fields (block_args, num_features, ...)
    compact: bool  # `arch_def` rebuilds block_args exactly (else `block_args` holds them)

    @property
    def block_args(self) -> Any:
        """The `block_args` override: None where `arch_def` rebuilds them."""
        return self.values[OVERRIDE]

    @property
    def imports(self) -> tuple[tuple[str, str], ...]:
        """What the modeling file's generator functions import: timm's public builders."""
        return (("functools", "partial"), (BUILDER, "decode_arch_def"), (BUILDER, "round_channels"))


def generator_form(model_cls: type, kwargs: dict[str, Any], calls: GeneratorCalls) -> GeneratorForm | None:
    """The generator fields of one architecture of a generator-built class, or None for other classes (or a
    rounding function that is not timm's `round_channels`, which then stays a component field)."""
    if not is_generator_class(model_cls):
        return None
    rounding = _rounding(kwargs.get("round_chs_fn", _default(model_cls, "round_chs_fn")))
    if rounding is None:
        return None
    values: dict[str, Any] = {"arch_def": None, **DECODE_DEFAULTS, **rounding}
    decoded = _compact_blocks(kwargs["block_args"], calls)
    values.update(decoded or {})
    has_head = "num_features" in inspect.signature(model_cls.__init__).parameters
    if has_head:
        num_features = kwargs.get("num_features", _default(model_cls, "num_features"))
        values["num_features"], values["num_features_rounding"] = _head_rule(num_features, rounding, calls)
    values[OVERRIDE] = None if decoded else kwargs["block_args"]
    replaced = tuple(name for name in REPLACED if has_head or name != "num_features")
    return GeneratorForm(values, replaced, compact=decoded is not None)


def _default(model_cls: type, name: str) -> Any:
    return inspect.signature(model_cls.__init__).parameters[name].default


def _rounding(round_chs_fn: Any) -> dict[str, Any] | None:
    """The config's rounding settings of a `round_channels` partial (or of the function itself)."""
    import timm.models._efficientnet_builder as builder

    func, keywords = round_chs_fn, {}
    if isinstance(round_chs_fn, functools.partial):
        if round_chs_fn.args:
            return None
        func, keywords = round_chs_fn.func, dict(round_chs_fn.keywords)
    if func is not builder.round_channels:
        return None
    settings = dict(ROUND_DEFAULTS)
    for key, value in keywords.items():
        name = ROUNDING.get(key, key)
        if name not in settings:
            return None
        settings[name] = value
    return settings


def round_with(settings: dict[str, Any], channels: int) -> int:
    """`round_channels(channels)` with the config's settings, as the modeling file computes it."""
    from timm.models._efficientnet_builder import round_channels

    return round_channels(
        channels,
        multiplier=settings["channel_multiplier"],
        divisor=settings["channel_divisor"],
        channel_min=settings["channel_min"],
        round_limit=settings["round_limit"],
    )


def _compact_blocks(block_args: Any, calls: GeneratorCalls) -> dict[str, Any] | None:
    """`arch_def` and decode_arch_def's arguments from the generator's call, where decoding them gives exactly the
    constructor's `block_args` (the last such call: a generator may decode more than once)."""
    from timm.models._efficientnet_builder import decode_arch_def

    for arguments, _, _ in reversed(calls.decoded):
        fields = {"arch_def": arguments["arch_def"], **{key: arguments[key] for key in DECODE_DEFAULTS}}
        if not _json_like(list(fields.values())):
            continue
        if decode_arch_def(**copy.deepcopy(fields)) == block_args:
            return fields
    return None


def _head_rule(num_features: int, rounding: dict[str, Any], calls: GeneratorCalls) -> tuple[int, str | None]:
    """(num_features field, num_features_rounding): the width the generator rounded to get the head's, and how.

    `max(1280, round_chs_fn(1280))` (MobileNetV2, TinyNet) is told from `round_chs_fn(1280)` by the source line of
    the call, where the multiplier does not tell them apart (at 1.0 and above both give the rounded width).
    """
    for arguments, result, line in calls.rounded:
        channels = arguments.get("channels")
        if not isinstance(channels, int) or round_with(rounding, channels) != result:
            continue  # rounded with other settings than the model's
        if "max(" in line and max(channels, result) == num_features:
            return channels, "max"
        if result == num_features:
            return channels, "round"
        if result < channels == num_features:
            return channels, "max"
    return num_features, None


def _json_like(value: Any) -> bool:
    """Whether a value is plain JSON data (numbers, strings, lists), as config fields hold it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_like(item) for item in value)
    return False


def arrange(fields: list[Any], form: GeneratorForm) -> list[Any]:
    """The class's fields with the generator fields first (kind GENERATOR) and the override last; the constructor
    arguments the generator fields replace are left out."""
    by_name = {field.name: field for field in fields}
    generator = []
    for name in (*FIELDS, OVERRIDE):
        if name not in form.values:
            continue
        value = form.values[name] if name != OVERRIDE else by_name[OVERRIDE].value
        constant = name == "arch_def" and value is not None
        generator.append(Field(name, value, Kind.GENERATOR, constant=constant))
    others = [field for field in fields if field.name not in form.values and field.argument_name not in form.replaced]
    return generator[:-1] + others + generator[-1:]
