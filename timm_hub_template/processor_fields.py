"""The standard image-processor fields of timm's eval transform, for tools that read only those.

transformers.js, ONNX runtimes' pre-processing and Transformers' own processors (CLIP's, ViT's) read
`preprocessor_config.json` for `do_resize`, `size`, `resample`, `do_center_crop`, `crop_size`, `do_rescale`,
`rescale_factor`, `do_normalize`, `image_mean` and `image_std`. `standard_fields(data_config)` computes them from timm's
data config the way `timm.data.create_transform(..., is_training=False)` resizes and crops
(`transforms_imagenet_eval`):

- `crop_mode="center"` with a square scale size: resize the shortest edge to `floor(size / crop_pct)`, then crop
  the center: `size={"shortest_edge": ...}` (torchvision's `Resize(int)`, which Transformers' `shortest_edge`
  reproduces);
- `crop_mode="squash"`: resize to `floor(height / crop_pct) x floor(width / crop_pct)` ignoring the aspect ratio,
  then crop: `size={"height": ..., "width": ...}`;
- `crop_mode="center"` with a non-square input (timm's `ResizeKeepRatio`) and `crop_mode="border"` (resize the
  longest edge, then pad) have no standard equivalent: the nearest one is given (`shortest_edge` of the smaller
  scaled edge; `longest_edge` for border) and `exact_standard_fields` says it is not exact.
"""

from __future__ import annotations

import math
from typing import Any

# PIL.Image.Resampling codes of timm's interpolation names (what `resample` holds in Transformers' processors).
PIL_RESAMPLE = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
DEFAULT_CROP_PCT = 0.875  # timm.data.constants.DEFAULT_CROP_PCT, what create_transform uses for a missing crop_pct


def scale_size(data_config: dict[str, Any]) -> tuple[int, int]:
    """The (height, width) timm resizes to before cropping: `floor(input_size / crop_pct)`."""
    crop_pct = data_config.get("crop_pct") or DEFAULT_CROP_PCT
    _, height, width = data_config["input_size"]
    return math.floor(height / crop_pct), math.floor(width / crop_pct)


def exact_standard_fields(data_config: dict[str, Any]) -> bool:
    """Whether a standard processor resizes and crops as timm does (up to rounding, see the tests)."""
    crop_mode = data_config.get("crop_mode") or "center"
    height, width = scale_size(data_config)
    return crop_mode == "squash" or (crop_mode == "center" and height == width)


def standard_fields(data_config: dict[str, Any]) -> dict[str, Any]:
    """`do_resize`, `size`, `resample`, `do_center_crop`, `crop_size`, `do_rescale`, `rescale_factor`,
    `do_normalize`, `image_mean`, `image_std` from timm's data config."""
    crop_mode = data_config.get("crop_mode") or "center"
    _, crop_height, crop_width = (int(value) for value in data_config["input_size"])
    height, width = scale_size(data_config)
    if crop_mode == "squash":
        size = {"height": height, "width": width}
    elif crop_mode == "border":
        size = {"longest_edge": max(height, width)}
    else:
        size = {"shortest_edge": min(height, width)}
    return {
        "do_resize": True,
        "size": size,
        "resample": PIL_RESAMPLE.get(str(data_config.get("interpolation") or "bilinear"), 2),
        "do_center_crop": True,
        "crop_size": {"height": crop_height, "width": crop_width},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(value) for value in data_config["mean"]],
        "image_std": [float(value) for value in data_config["std"]],
    }
