"""Model stats for the card, as timm's own cards give them: Params (M), GMACs and Activations (M).

MACs are half the FLOPs that `torch.utils.flop_counter.FlopCounterMode` counts for one image at the model's input
size: convolutions and matrix multiplications. Activations are counted as fvcore's `ActivationCountAnalysis` (behind
timm's published numbers) counts them: the elements output by convolutions and matrix multiplications. Attention
runs in its math form for both counts, so its two products (QK^T and AV) are counted whichever kernel a model would
pick. Both run on the meta device when the model allows it (no compute, no memory), else for real on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

_ACTIVATION_OPS = {
    torch.ops.aten.convolution.default,
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten.baddbmm.default,
}


@dataclass(frozen=True)
class ModelStats:
    params: int
    macs: int
    activations: int
    input_size: tuple[int, int, int]

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def activations_m(self) -> float:
        return self.activations / 1e6


class _ActivationCounter(TorchDispatchMode):
    """Adds up the elements of the first output of every convolution and matrix multiplication."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _ACTIVATION_OPS:
            first = out[0] if isinstance(out, (tuple, list)) else out
            self.count += first.numel()
        return out


def measure(model: Any, input_size: tuple[int, int, int], meta_model: Any | None = None) -> ModelStats:
    """Stats of `model` (a timm model) for one image of `input_size` (C, H, W).

    `meta_model`, the same architecture built on the meta device, is tried first; `model` runs only if it fails.
    """
    params = sum(parameter.numel() for parameter in model.parameters())
    dtype = next(model.parameters()).dtype
    counts = None
    if meta_model is not None:
        try:
            counts = _count(meta_model.eval(), torch.zeros(1, *input_size, device="meta"))
        except Exception:  # noqa: BLE001 - data-dependent code cannot run on meta tensors: count for real below
            counts = None
    macs, activations = counts or _count(model.eval(), torch.zeros(1, *input_size, dtype=dtype))
    return ModelStats(params, macs, activations, tuple(input_size))


def _count(model: Any, pixel_values: torch.Tensor) -> tuple[int, int]:
    flops = FlopCounterMode(display=False)
    activations = _ActivationCounter()
    # FlopCounterMode's module tracker hooks the autograd graph of every input that requires grad, and fails on a
    # parameter handed to a submodule as it is (pit and cait pass their class token): count without grad.
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    try:
        for parameter in trainable:
            parameter.requires_grad_(False)
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), flops, activations:
            model(pixel_values)
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)
    return flops.get_total_flops() // 2, activations.count
