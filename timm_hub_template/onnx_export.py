"""ONNX export with parity (the opt-in `onnx` variable): `onnx/model.onnx`, checked against timm's outputs.

`export_onnx(project_dir, answers, model, reference)` exports timm's model (the one the weights were verified on)
with `torch.onnx.export` (torch's dynamo exporter, which needs onnxscript; TorchScript's exporter when it fails)
into `onnx/model.onnx`: input `pixel_values` with a dynamic batch axis, output `logits` for a classifier, or
`last_hidden_state` and `pooler_output` (timm's `forward_features` and pre-logits features) for a features-only
model. The file is checked with `onnx.checker` and run with onnxruntime on two images (the verification image
and its mirror image).

Parity cannot be exact: onnxruntime's kernels (convolution algorithms, fused GEMMs, softmax and GELU
approximations, the order of float32 reductions) are not PyTorch's. The outputs must be within
`TOLERANCE * max(1, max |timm output|)` of timm's; the max abs diff is written in the card.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template.errors import ExportError, first_line

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers
    from timm_hub_template.reference import Reference

TOLERANCE = 1e-4  # float32: relative to the outputs' scale, at least absolute 1e-4
ONNX_FOLDER = "onnx"
ONNX_FILE = "model.onnx"
PREPROCESSOR_FILE = "preprocessor_config.json"
OPSET = 18


@dataclass(frozen=True)
class OnnxReport:
    """What the export produced, for the card and the sweep."""

    files: tuple[str, ...]  # paths relative to the repository: onnx/model.onnx (+ its external data)
    outputs: tuple[str, ...]  # output names of the graph
    max_abs_diff: float  # over every output, onnxruntime vs timm on two images
    tolerance: float  # the bound it had to stay under
    exporter: str  # "dynamo" or "torchscript"
    seconds: float  # export + check + run
    dynamo_failure: str = ""  # why torch's dynamo exporter failed, when TorchScript's exported it


def _features_module(model: Any):
    """A headless timm model as (last_hidden_state, pooler_output), the outputs of the generated `Model`."""
    import torch

    from timm_hub_template.introspection import pools

    class Features(torch.nn.Module):
        def __init__(self, timm_model):
            super().__init__()
            self.timm_model = timm_model

        def forward(self, pixel_values):
            features = self.timm_model.forward_features(pixel_values)
            if not pools(self.timm_model):  # an encoder without a head: its features alone
                return (features,)
            return features, self.timm_model.forward_head(features, pre_logits=True)

    return Features(model).eval()


def export_if_asked(project_dir: Path, answers: Answers, model: Any, reference: Reference) -> OnnxReport | None:
    """`export_onnx` when the `onnx` variable is yes, else nothing (None)."""
    return export_onnx(project_dir, answers, model, reference) if answers.onnx else None


def export_onnx(project_dir: Path, answers: Answers, model: Any, reference: Reference) -> OnnxReport:
    """Export `model` (timm's, eval mode) to `project_dir/onnx/model.onnx`, check it, require parity; raises
    `ExportError` naming the reason when the export or the parity fails."""
    import torch

    start = time.perf_counter()
    folder = Path(project_dir) / ONNX_FOLDER
    folder.mkdir(exist_ok=True)
    path = folder / ONNX_FILE
    model.eval()
    if answers.has_head:
        module, outputs = model, ("logits",)
    else:
        module = _features_module(model)
        outputs = (
            ("last_hidden_state", "pooler_output") if reference.pre_logits is not None else ("last_hidden_state",)
        )
    # Two images, the verification's and its mirror image: the exporters fix a batch axis traced at size 1.
    pixel_values = torch.cat([reference.pixel_values, reference.pixel_values.flip(-1)])
    with torch.inference_mode():
        produced = module(pixel_values)
    expected = tuple(output.clone() for output in (produced if isinstance(produced, tuple) else (produced,)))
    exporter, dynamo_failure = _export(module, pixel_values, path, outputs)
    _check(path)
    difference = _run(path, pixel_values, outputs, expected)
    scale = max(1.0, *(float(output.abs().max()) for output in expected))
    bound = TOLERANCE * scale
    if not difference <= bound:
        raise ExportError(
            f"ONNX outputs differ from timm's by {difference:.3g} (max abs), more than the tolerance {bound:.3g}"
        )
    # The standard image-processor fields of timm's transform, beside the graph, for ONNX runtimes that preprocess
    # with those alone (the repository's processors read config.json's `pretrained_cfg`).
    (folder / PREPROCESSOR_FILE).write_text(json.dumps(answers.standard_processor_fields, indent=2) + "\n")
    files = tuple(sorted(str(file.relative_to(project_dir)) for file in folder.iterdir() if file.is_file()))
    seconds = time.perf_counter() - start
    return OnnxReport(files, outputs, difference, bound, exporter, seconds, dynamo_failure)


def _export(module: Any, pixel_values: Any, path: Path, outputs: tuple[str, ...]) -> tuple[str, str]:
    """torch's dynamo exporter, else the TorchScript one: (the exporter, why dynamo failed or ""); the reasons of
    both when neither works.

    Weights over 1.5 GB go to an external data file next to the graph (`model.onnx.data`): protobuf stops at 2 GB.
    """
    import torch

    large = sum(tensor.numel() * tensor.element_size() for tensor in module.state_dict().values()) > 1.5e9
    reasons = []
    dynamic_axes = {"pixel_values": {0: "batch"}, **{name: {0: "batch"} for name in outputs}}
    batch = {0: torch.export.Dim("batch")}
    for exporter, options in (
        ("dynamo", {"dynamo": True, "external_data": large, "dynamic_shapes": (batch,)}),
        ("torchscript", {"dynamo": False, "dynamic_axes": dynamic_axes}),
    ):
        try:
            with warnings.catch_warnings(), _quiet():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    module,
                    (pixel_values,),
                    str(path),
                    input_names=["pixel_values"],
                    output_names=list(outputs),
                    opset_version=OPSET,
                    **options,
                )
            return exporter, "; ".join(reasons)
        except Exception as problem:  # noqa: BLE001 - every exporter failure is a reason to report
            reasons.append(f"{exporter}: {failure(problem)}")
    raise ExportError("torch.onnx.export fails: " + "; ".join(reasons))


def failure(problem: BaseException) -> str:
    """One line: the exception and, for the exporters' wrapping errors ("Failed to decompose the FX graph"), the
    exception that caused it; without the terminal colours torch's messages carry."""
    import re

    text = f"{type(problem).__name__}: {first_line(problem)[:200]}"
    root = problem
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    if root is not problem:
        text += f" (caused by {type(root).__name__}: {first_line(root)[:200]})"
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class _quiet:
    """Silence the exporters' progress prints (torch's dynamo exporter prints each step to stdout)."""

    def __enter__(self):
        import contextlib
        import io

        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        return self

    def __exit__(self, *exc_info):
        self._stack.close()
        return False


def _check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)  # by path: also models with external data
    except Exception as problem:  # the checker's own exception types vary
        raise ExportError(f"onnx.checker rejects {path.name}: {first_line(problem)[:200]}") from problem


def _run(path: Path, pixel_values: Any, outputs: tuple[str, ...], expected: tuple[Any, ...]) -> float:
    """The max abs diff of onnxruntime's outputs (CPU) from timm's on `pixel_values` (two images)."""
    import numpy
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    if names != list(outputs) or [i.name for i in session.get_inputs()] != ["pixel_values"]:
        raise ExportError(f"the ONNX graph has inputs/outputs {names}, not pixel_values -> {list(outputs)}")
    batch = session.get_inputs()[0].shape[0]
    if isinstance(batch, int):
        raise ExportError(f"the ONNX graph's batch axis is fixed at {batch}, not dynamic")
    results = session.run(list(outputs), {"pixel_values": pixel_values.numpy()})
    difference = 0.0
    for name, actual, wanted in zip(outputs, results, expected):
        wanted = wanted.numpy()
        if actual.shape != wanted.shape:
            raise ExportError(f"ONNX output {name} has shape {actual.shape}, timm's {wanted.shape}")
        difference = max(difference, float(numpy.abs(actual.astype(numpy.float64) - wanted).max()))
    single = session.run(list(outputs), {"pixel_values": pixel_values[:1].numpy()})  # the batch axis is dynamic
    if single[0].shape[0] != 1:
        raise ExportError("the ONNX graph does not run on a batch of one image")
    return difference
