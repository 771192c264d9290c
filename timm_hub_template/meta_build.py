"""Models built on the meta device without running their weight initialisation there.

A meta tensor has a shape, a dtype and strides, and no values. timm's initialisers (`trunc_normal_`, the
`torch.nn.init` functions) still run on meta tensors, through torch's Python reference kernels: most of the time of a
meta build (70% for the ViTs, 80% for convnext_base). `meta_initialisation_skipped()` skips the in-place operations
that only set values (scalar arguments only: one with another tensor could raise for its shape, and still runs) on
meta tensors, so a build is as fast as its modules' own code. Nothing else can change: the operations it skips leave
every property a meta tensor has as it was.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

# In-place operations that set values, as tensor methods, and the torch.nn.init functions torch dispatches whole
# (the others reach the tensor methods).
_TENSOR_METHODS = ("uniform_", "normal_", "erfinv_", "clamp_", "mul_", "add_", "sub_", "div_", "fill_", "zero_")
_INIT_FUNCTIONS = ("uniform_", "normal_", "constant_", "kaiming_uniform_")


@functools.cache
def _skipping_mode() -> type:
    import torch
    from torch.overrides import TorchFunctionMode

    value_setters = frozenset(
        [getattr(torch.Tensor, name) for name in _TENSOR_METHODS]
        + [getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS]
    )

    class SkipMetaInitialisation(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            kwargs = kwargs or {}
            if func in value_setters:
                tensor = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes `tensor=` by name
                others = [*args[1:], *(value for name, value in kwargs.items() if name != "tensor")]
                if (
                    isinstance(tensor, torch.Tensor)
                    and tensor.is_meta
                    and not any(isinstance(value, torch.Tensor) for value in others)
                ):
                    return tensor
            return func(*args, **kwargs)

    return SkipMetaInitialisation


@contextlib.contextmanager
def meta_initialisation_skipped() -> Iterator[None]:
    """Within the block, initialisers on meta tensors are skipped (tensors on other devices are initialised)."""
    with _skipping_mode()():
        yield


@contextlib.contextmanager
def on_meta_device() -> Iterator[None]:
    """Modules built in the block are on the meta device, built without initialising their weights."""
    import torch

    with torch.device("meta"), meta_initialisation_skipped():
        yield
