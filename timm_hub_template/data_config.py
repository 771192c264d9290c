"""The data config: the preprocessing the image processor reproduces, as timm's `resolve_data_config` gives it.

`resolve_data_config` resolves it once for the answers (`Answers.data_config`) from the architecture's pretrained
config, the training checkpoint's data settings, the `data_config` answer (`checked_overrides`) and the model's
input channels; the export, the card and the verification read that result.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from timm_hub_template.errors import AnswerError

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

# timm's data config keys (timm.data.resolve_data_config) that the `data_config` variable may set.
DATA_CONFIG_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
CROP_MODES = ("center", "squash", "border")
# The PIL mode of images with this many channels: the image processor converts its inputs to it.
IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def checked_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """The `data_config` answer, each key one of `DATA_CONFIG_KEYS` with a value timm takes, else `AnswerError`."""
    for key, value in overrides.items():
        problem = _value_error(key, value)
        if problem:
            raise AnswerError(f"data_config: {problem}")
    return overrides


def _value_error(key: str, value: Any) -> str:
    numbers = (
        isinstance(value, list)
        and value
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    )
    if key not in DATA_CONFIG_KEYS:
        return f"unknown key {key!r}; valid: {', '.join(DATA_CONFIG_KEYS)}"
    if key == "input_size" and not (
        isinstance(value, list) and len(value) == 3 and all(isinstance(x, int) and x > 0 for x in value)
    ):
        return f"input_size must be [channels, height, width], like [3, 384, 384], not {json.dumps(value)}"
    if key in ("mean", "std") and not numbers:
        return f"{key} must be a list of numbers, one per channel (or one for all), not {json.dumps(value)}"
    if key == "std" and any(x <= 0 for x in value):
        return f"std must be positive, not {json.dumps(value)}"
    if key == "interpolation" and value not in INTERPOLATIONS:
        return f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {json.dumps(value)}"
    if key == "crop_pct" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 2):
        return f"crop_pct must be a number in (0, 2], like 0.875, not {json.dumps(value)}"
    if key == "crop_mode" and value not in CROP_MODES:
        return f"crop_mode must be one of {', '.join(CROP_MODES)}, not {json.dumps(value)}"
    return ""


def resolve_data_config(
    spec: ArchitectureSpec, model_args: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """timm's data config for the model the answers describe.

    timm's `resolve_data_config` on the architecture's pretrained config, with the overrides (the training
    args' data settings, then the `data_config` variable) and the model's input: `input_size` follows the
    `img_size` and `in_chans` model arguments unless set, and mean/std are adapted to the channel count as timm's
    loader does (`adapt_to_chs`: their average for other channel counts).
    """
    from timm.data import resolve_data_config as timm_resolve
    from timm.data.loader import adapt_to_chs

    in_chans = int(model_args.get("in_chans", spec.in_chans))
    if in_chans not in IMAGE_MODES:
        raise AnswerError(f"in_chans {in_chans}: images have 1 (L), 3 (RGB) or 4 (RGBA) channels")
    for key in ("mean", "std"):  # timm asserts this; say it in one line instead
        if key in overrides and len(overrides[key]) not in (1, in_chans):
            raise AnswerError(f"data_config: {key} needs 1 or {in_chans} values for {in_chans} input channels")
    args = {"in_chans": in_chans, **overrides}
    if "input_size" not in overrides:
        img_size = model_args.get("img_size", overrides.get("img_size"))
        if isinstance(img_size, int):
            args["img_size"] = img_size
        elif isinstance(img_size, (list, tuple)) and len(img_size) == 2:
            args["input_size"] = (in_chans, *img_size)
    config = timm_resolve(args, pretrained_cfg=spec.pretrained_cfg)
    channels = int(config["input_size"][0])
    if channels != in_chans:
        if "input_size" in overrides:
            raise AnswerError(
                f"data_config: input_size has {channels} channels but the model takes {in_chans} (in_chans)"
            )
        config["input_size"] = (in_chans, *config["input_size"][1:])
    for key in ("mean", "std"):
        values = tuple(config[key])
        config[key] = values if len(values) == in_chans else tuple(adapt_to_chs(values, in_chans))
    return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}
