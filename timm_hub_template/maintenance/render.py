"""Render the code files of a sample of architectures, without export or verification: what the templates write.

Each architecture is rendered as batch mode renders it (cookiecutter's context and `generate_files`, no hook, no
weights built), then ruff-formatted as the export formats it, into a folder of its own under `--output`. Render
before and after a change to the templates and compare (`diff -r`): a change meant to keep the generated code must
leave the two byte-identical. The default sample is one architecture per timm family
(tests/family_representatives.json) and the cases the templates branch on that it may miss: architectures built by
name (the fallback), model arguments, features-only repositories (`num_labels=0`), encoders without a head, a
pruned variant, a pretrained tag and a training checkpoint of another head size.

    python -m timm_hub_template.maintenance render --output /tmp/rendered-before
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from timm_hub_template.formatting import format_python_files

HELP = "render the code files of a sample of architectures, without export (to compare template changes)"
ROOT = Path(__file__).resolve().parent.parent.parent
FAMILIES = ROOT / "tests" / "family_representatives.json"
# The cases one architecture per family may miss: folder name -> the variables of its run (weights random).
EXTRA_CASES: dict[str, dict[str, str]] = {
    "fallback-repvgg_b1g4": {"architecture": "repvgg_b1g4"},
    "fallback-ese_vovnet39b_evos": {"architecture": "ese_vovnet39b_evos"},
    "fallback-vit_base_mci_224": {"architecture": "vit_base_mci_224"},
    "fallback-model-args": {"architecture": "vit_tiny_r_s16_p8_224", "model_args": '{"drop_rate": 0.1}'},
    "fallback-features": {"architecture": "vit_tiny_r_s16_p8_224", "num_labels": "0"},
    "explicit-model-args": {"architecture": "resnet18", "model_args": '{"drop_rate": 0.1, "stem_type": "deep"}'},
    "explicit-features": {"architecture": "resnet18", "num_labels": "0"},
    "explicit-tag": {"architecture": "resnet50d.a1_in1k"},
    "pruned": {"architecture": "efficientnet_b1_pruned"},
    "encoder-qwen3_vit_88m_enc": {"architecture": "qwen3_vit_88m_enc"},
    "encoder-mobilenetv5_300m_enc": {"architecture": "mobilenetv5_300m_enc"},
}
CHECKPOINT_CASE = "checkpoint-7-classes"  # resnet18 from a training checkpoint with a 7-class head


def sample(scratch: Path) -> dict[str, dict[str, str]]:
    """The default sample: folder name -> variables."""
    families = json.loads(FAMILIES.read_text())
    cases = {f"family-{family}": {"architecture": name} for family, name in sorted(families.items())}
    return {**cases, **EXTRA_CASES, CHECKPOINT_CASE: {"architecture": "resnet18", "weights": str(checkpoint(scratch))}}


def checkpoint(scratch: Path) -> Path:
    """A resnet18 checkpoint of 7 classes, as timm's train.py saves one (its `state_dict` only)."""
    import timm
    import torch

    torch.manual_seed(0)
    path = scratch / "resnet18-7-classes.pth.tar"
    torch.save({"state_dict": timm.create_model("resnet18", num_classes=7).state_dict()}, path)
    return path


def render(variables: dict[str, Any], output: Path) -> None:
    """The code files of one run into `output`, formatted as the export formats them."""
    from timm_hub_template import batch, cookiecutter_run

    with tempfile.TemporaryDirectory() as scratch:
        try:
            context = batch.render_context({"weights": "random", **variables, "repo_name": "rendered"}, Path(scratch))
            folder = batch.render_files(context, Path(scratch))
        finally:
            cookiecutter_run.finish()
        format_python_files(folder)
        output.mkdir(parents=True)
        for path in sorted(folder.iterdir()):
            shutil.copyfile(path, output / path.name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("architectures", nargs="*", help="architectures to render (default: the sample)")
    parser.add_argument("--output", type=Path, required=True, help="a folder that does not exist yet")


def run(args: argparse.Namespace) -> int:
    if args.output.exists():
        raise SystemExit(f"{args.output} exists: name a new folder")
    with tempfile.TemporaryDirectory() as scratch:
        cases = {name: {"architecture": name} for name in args.architectures} or sample(Path(scratch))
        for name, variables in cases.items():
            render(variables, args.output / name)
    print(f"{len(cases)} rendered into {args.output}")
    return 0
