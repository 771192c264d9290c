"""The class table, `timm_classes.json`: every timm class with its architectures, and what they share.

Each architecture of `timm.list_models()` is built on the meta device while its constructor call is recorded
(`introspection.capture_constructor_calls`); the calls are grouped by the class they build and described as a whole
(`introspection.describe_class`: fields, kinds, choices, component keys). A generation reads the table
(`introspection.class_table`) when it describes the installed timm. Rebuild it when timm changes (about 3 min):

    python -m timm_hub_template.maintenance classes
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from timm_hub_template.introspection import CLASSES_FILE, capture_constructor_calls, class_key, describe_class


@functools.cache
def meta_initialisation_skipper() -> type:
    """A torch function mode that skips the in-place operations setting a meta tensor's values: a meta tensor has
    none, and timm's weight initialisation on meta tensors (`trunc_normal_` through torch's Python references) is
    most of the time of a meta build (70% for the ViTs). Shapes, dtypes and the recorded constructor calls are the
    same (the rebuilt table is byte-identical)."""
    import torch
    from torch.overrides import TorchFunctionMode

    tensor_methods = ("uniform_", "normal_", "erfinv_", "clamp_", "mul_", "add_", "sub_", "div_", "fill_", "zero_")
    init_functions = ("uniform_", "normal_", "constant_", "kaiming_uniform_")  # those torch dispatches as a whole
    value_setters = frozenset(
        [getattr(torch.Tensor, name) for name in tensor_methods]
        + [getattr(torch.nn.init, name) for name in init_functions]
    )

    class SkipMetaInitialisation(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in value_setters:
                tensor = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes `tensor=` by name
                if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                    return tensor
            return func(*args, **kwargs)

    return SkipMetaInitialisation


def build_class_table(names: list[str] | None = None, progress: bool = True) -> dict[str, Any]:
    """timm_classes.json's contents for `names` (default: every architecture), built on the meta device."""
    import timm
    import torch
    from tqdm.auto import tqdm

    skipping_initialisation = meta_initialisation_skipper()
    grouped: dict[str, tuple[type, list[tuple[str, dict[str, Any], bool]]]] = {}
    for name in tqdm(names or timm.list_models(), disable=not progress, unit="model"):
        with capture_constructor_calls() as capture, torch.device("meta"), skipping_initialisation():
            timm.create_model(name, pretrained=False)
        model_cls = capture.model_cls
        grouped.setdefault(class_key(model_cls), (model_cls, []))[1].append((name, capture.kwargs, capture.pruned))
    classes = {}
    for key, (model_cls, captures) in sorted(grouped.items()):
        info, fallbacks = describe_class(model_cls, captures)
        classes[key] = {"architectures": [name for name, _, _ in captures], "fallback": fallbacks, **info.to_json()}
    return {"timm": timm.__version__, "classes": classes}


HELP = "write timm_classes.json: every timm class and its architectures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", type=Path, default=CLASSES_FILE, help="default: timm_hub_template/timm_classes.json"
    )


def run(args: argparse.Namespace) -> int:
    args.output.write_text(json.dumps(build_class_table(), indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0
