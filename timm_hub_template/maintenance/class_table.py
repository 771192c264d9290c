"""The class table, `timm_classes.json`: every timm class with its architectures, and what they share.

Each architecture of `timm.list_models()` is built on the meta device while its constructor call is recorded
(`introspection.capture_constructor_calls`); the calls are grouped by the class they build and described as a whole
(`introspection.describe_class`: fields, kinds, choices, component keys). A generation reads the table
(`introspection.class_table`) when it describes the installed timm. Rebuild it when timm changes (about 3 min):

    python -m timm_hub_template.maintenance classes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from timm_hub_template.introspection import CLASSES_FILE, capture_constructor_calls, class_key, describe_class
from timm_hub_template.meta_build import on_meta_device


def build_class_table(names: list[str] | None = None, progress: bool = True) -> dict[str, Any]:
    """timm_classes.json's contents for `names` (default: every architecture), built on the meta device."""
    import timm
    from tqdm.auto import tqdm

    grouped: dict[str, tuple[type, list[tuple[str, dict[str, Any], bool]]]] = {}
    for name in tqdm(names or timm.list_models(), disable=not progress, unit="model"):
        with capture_constructor_calls() as capture, on_meta_device():
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
