"""timm's own outputs, recorded from the reference model before it is freed: what the saved folder must give.

`run_reference` computes them once, in the export, while timm's model holds the weights; every loader the
verification tries (`verify`) must give them exactly (`require_equal`), and the ONNX export runs its graph on the
same image (`onnx_export`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timm_hub_template.errors import ExportError


@dataclass
class Reference:
    """Outputs of timm's model, computed before it is freed. An encoder without a head (its `forward_head`
    refuses) has neither logits nor pooled features: its `features` (timm's `forward_features`) are compared."""

    pixel_values: Any
    logits: Any
    pre_logits: Any
    features: Any = None

    def require_features(self, where: str, last_hidden_state: Any, pooled: Any) -> None:
        """The pooled features of `where` equal timm's, or for an encoder its features (and it pools nothing)."""
        if self.pre_logits is not None:
            require_equal(f"pooled features of {where}", pooled, self.pre_logits)
            return
        if pooled is not None:
            raise ExportError(f"{where} pools the features of an encoder that timm does not pool")
        require_equal(f"features of {where}", last_hidden_state, self.features)


def run_reference(reference: Any, input_size: tuple[int, ...], dtype: Any) -> Reference:
    """timm's own outputs on a fixed random image in `dtype`, to compare the saved folder with.

    One pass through the features: the logits and the pooled features are timm's `forward_head` of them, as
    timm's `forward` computes its logits; an encoder without a head keeps its features instead.
    """
    import torch

    from timm_hub_template.introspection import pools

    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(1, *input_size, generator=generator).to(dtype)
    reference.eval()
    with torch.inference_mode():
        features = reference.forward_features(pixel_values)
        if not pools(reference):
            return Reference(pixel_values, None, None, features)
        logits = reference.forward_head(features)
        return Reference(pixel_values, logits, reference.forward_head(features, pre_logits=True))


def require_equal(what: str, actual: Any, expected: Any) -> None:
    import torch

    if actual.shape != expected.shape or not torch.equal(actual, expected):
        difference = (actual - expected).abs().max().item() if actual.shape == expected.shape else "shape"
        raise ExportError(f"{what} differ from timm's (max abs diff {difference})")
