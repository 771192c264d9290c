"""ONNX sample sweep: export one small architecture per family for a sample of timm's families, with parity.

Each architecture (random weights, seed 0, timm's class with its default head) goes through the same
`onnx_export.export_onnx` as `onnx=yes`: torch.onnx.export with a dynamic batch axis, onnx.checker, onnxruntime on
two images against timm's logits. The table (exporter, max abs diff, seconds, or the reason it fails)
is written as Markdown:

    python -m timm_hub_template.maintenance onnx-sweep --output ONNX.md

All 1,371 architectures would take hours on a CPU (export and check are 5-60 s each); the sample covers the kinds
of layers timm has: CNNs, ViTs with and without relative positions or RoPE, windowed and hybrid attention,
mobile blocks with re-parameterisation, MLP mixers.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# family -> a small architecture of it (from tests/family_representatives.json, the small end of each family).
SAMPLE = {
    "resnet": "resnet18",
    "efficientnet": "efficientnet_b0",
    "mobilenetv3": "mobilenetv3_small_050",
    "convnext": "convnext_atto",
    "regnet": "regnetx_002",
    "densenet": "densenet121",
    "vision_transformer": "vit_tiny_patch16_224",
    "deit": "deit_tiny_patch16_224",
    "vision_transformer_relpos": "test_vit_relpos",
    "eva": "vit_tiny_patch16_dinov3_qkvb",
    "swin_transformer": "swin_tiny_patch4_window7_224",
    "levit": "levit_128s",
    "mobilevit": "mobilevit_xxs",
    "efficientvit_mit": "efficientvit_b0",
    "fastvit": "fastvit_t8",
    "xcit": "xcit_nano_12_p8_224",
    "crossvit": "crossvit_tiny_240",
    "coat": "coat_tiny",
    "pit": "pit_ti_224",
    "mlp_mixer": "gmlp_ti16_224",
    "byoanet": "halonet_h1",
    "maxxvit": "test_coatnet",
    "edgenext": "edgenext_xx_small",
    "ghostnet": "ghostnet_050",
    "sequencer": "sequencer2d_s",
    "mvitv2": "mvitv2_tiny",
    "volo": "volo_d1_224",
    "nest": "nest_tiny",
    "tnt": "tnt_s_legacy_patch16_224",
    "gcvit": "gcvit_xxtiny",
    "tiny_vit": "tiny_vit_5m_224",
    "efficientformer_v2": "efficientformerv2_s0",
    "cait": "cait_xxs24_224",
    "hiera": "hiera_tiny_224",
}


@dataclass
class OnnxResult:
    family: str
    architecture: str
    status: str  # "ok" or "fail"
    exporter: str = ""
    max_abs_diff: float = 0.0
    tolerance: float = 0.0
    seconds: float = 0.0
    reason: str = ""  # why it fails, or why the dynamo exporter failed when TorchScript's exported it


def run_one(family: str, architecture: str, headless: bool = False) -> OnnxResult:
    """Export timm's model (random weights) and check parity; a failure is returned with its reason."""
    import timm
    import torch

    from timm_hub_template import answers as parsing
    from timm_hub_template.onnx_export import export_onnx, failure
    from timm_hub_template.reference import run_reference

    start = time.perf_counter()
    try:
        answers = parsing.parse(
            {
                "architecture": architecture,
                "weights": "random",
                "num_labels": "0" if headless else "auto",
                "repo_name": "onnx-sweep",
                "module_name": "onnx_sweep",
                "class_prefix": "OnnxSweep",
                "onnx": "yes",
            }
        )
        torch.manual_seed(0)
        model = timm.create_model(answers.spec.full_name, **answers.spec.create_kwargs).eval()
        reference = run_reference(model, answers.data_config["input_size"], answers.torch_dtype)
        with tempfile.TemporaryDirectory() as folder:
            report = export_onnx(Path(folder), answers, model, reference)
        return OnnxResult(
            family,
            architecture,
            "ok",
            report.exporter,
            report.max_abs_diff,
            report.tolerance,
            report.seconds,
            report.dynamo_failure[:400],
        )
    except Exception as problem:  # noqa: BLE001 - every failure is a row of the report
        reason = failure(problem)
        return OnnxResult(family, architecture, "fail", seconds=time.perf_counter() - start, reason=reason[:400])


def markdown(results: list[OnnxResult], seconds: float) -> str:
    import onnxruntime
    import torch

    passed = sum(result.status == "ok" for result in results)
    summary = (
        f"`python -m timm_hub_template.maintenance onnx-sweep --output ONNX.md`: {passed} of {len(results)} architectures (one per "
        f"family, random weights) export with `torch.onnx.export` (dynamic batch axis), pass `onnx.checker` and give "
        f"timm's logits within the tolerance on onnxruntime (CPU); export, check and run took {seconds:.0f} s in all on "
        f"{platform.machine()} "
        f"with torch {torch.__version__}, onnxruntime {onnxruntime.__version__}. The tolerance is 1e-4 times "
        "max(1, max |logit|): onnxruntime's float32 kernels are not PyTorch's. A diff of exactly 0 comes from a head "
        "that timm initialises to zeros (gMLP, Sequencer, Hiera): with random weights their logits are all 0. Where the "
        "dynamo exporter fails and TorchScript's exports the graph, the row says why dynamo failed."
    )
    lines = [
        "# ONNX export: a sample of timm's families",
        "",
        summary,
        "",
        "| family | architecture | result | exporter | max abs diff | tolerance | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        if result.status == "ok":
            lines.append(
                f"| {result.family} | `{result.architecture}` | ok{_note(result)} | {result.exporter} | "
                f"{result.max_abs_diff:.2e} | "
                f"{result.tolerance:.0e} | {result.seconds:.1f} |"
            )
        else:
            reason = result.reason.replace("|", "\\|")
            lines.append(
                f"| {result.family} | `{result.architecture}` | **fails**: {reason} | | | | {result.seconds:.1f} |"
            )
    return "\n".join(lines) + "\n"


def _note(result: OnnxResult) -> str:
    """Why the dynamo exporter failed, for a row TorchScript's exporter saved."""
    if not result.reason:
        return ""
    return " (dynamo " + result.reason.removeprefix("dynamo: ").replace("|", "\\|") + ")"


HELP = "export one small architecture per family of a sample with onnx=yes's checks (the ONNX table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="docs/reports/ONNX.md")
    parser.add_argument("--families", nargs="*", help="families of the sample to run (default: all of it)")
    parser.add_argument("--previous", help="JSON lines this command printed before: their families are not rerun")


def run(options: argparse.Namespace) -> int:
    sample = {family: SAMPLE[family] for family in options.families} if options.families else SAMPLE
    previous = {}
    if options.previous:
        for line in Path(options.previous).read_text().splitlines():
            if line.startswith("{"):
                result = OnnxResult(**json.loads(line))
                previous[result.family] = result
    results = []
    for family, architecture in sample.items():
        if family in previous and previous[family].architecture == architecture:
            results.append(previous[family])
            continue
        results.append(run_one(family, architecture))
        print(json.dumps(results[-1].__dict__), flush=True)
    Path(options.output).write_text(markdown(results, sum(result.seconds for result in results)))
    return 0 if all(result.status == "ok" for result in results) else 1
