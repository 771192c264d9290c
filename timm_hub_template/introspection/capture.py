"""Record the constructor call timm's `build_model_with_cfg` makes: the class and its keyword arguments.

The model is built on the meta device while the call is recorded, so any architecture takes seconds and no
weights are allocated.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@dataclasses.dataclass
class Capture:
    """The last `model_cls(**kwargs)` call made by `build_model_with_cfg`."""

    model_cls: type | None = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    pruned: bool = False


@contextmanager
def capture_constructor_calls() -> Iterator[Capture]:
    """Record the class and kwargs that timm's `build_model_with_cfg` constructs, in every timm module."""
    import timm.models._builder as builder

    original = builder.build_model_with_cfg
    capture = Capture()

    def recording_build(model_cls: Callable, variant: str, pretrained: bool, **kwargs: Any) -> Any:
        pruned = bool(kwargs.get("pruned", False))

        def recording_cls(**model_kwargs: Any) -> Any:
            # Deep-copied before construction: some constructors edit their arguments (efficientnet block_args).
            capture.model_cls, capture.kwargs, capture.pruned = model_cls, copy.deepcopy(model_kwargs), pruned
            return model_cls(**model_kwargs)

        return original(recording_cls, variant, pretrained, **kwargs)

    patched = [m for m in list(sys.modules.values()) if getattr(m, "build_model_with_cfg", None) is original]
    patched = [m for m in patched if getattr(m, "__name__", "").startswith("timm.")]
    for module in patched:
        module.build_model_with_cfg = recording_build
    try:
        yield capture
    finally:
        for module in patched:
            module.build_model_with_cfg = original
