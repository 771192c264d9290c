"""Proof that a generated folder loads like timm: the Auto classes give timm's exact outputs.

`run_reference` records timm's outputs on a fixed image before the reference model is freed; `verify_folder`
reloads the saved folder through `AutoModelForImageClassification`, `AutoModel` and `AutoImageProcessor` with
`trust_remote_code=True`, as users will, and requires logits, pooled features and processed pixels equal to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template.answers import IMAGE_MODES
from timm_hub_template.errors import ExportError

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers


@dataclass
class Reference:
    """Outputs of timm's model, computed before it is freed."""

    pixel_values: Any
    logits: Any
    pre_logits: Any


def run_reference(reference: Any, input_size: tuple[int, ...], dtype: Any) -> Reference:
    """timm's own outputs on a fixed random image in `dtype`, to compare the saved folder with.

    One pass through the features: the logits and the pooled features are timm's `forward_head` of them, as
    timm's `forward` computes its logits.
    """
    import torch

    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(1, *input_size, generator=generator).to(dtype)
    reference.eval()
    with torch.inference_mode():
        features = reference.forward_features(pixel_values)
        logits = reference.forward_head(features)
        return Reference(pixel_values, logits, reference.forward_head(features, pre_logits=True))


def sample_image(channels: int):
    """A deterministic image with detail at every scale, in the mode the model's processor takes."""
    from PIL import Image

    return Image.effect_mandelbrot((257, 193), (-2.0, -1.2, 0.8, 1.2), 64).convert(IMAGE_MODES[channels])


def verify_folder(project_dir: Path, answers: Answers, reference: Reference) -> list[str]:
    """Reload through the Auto classes, as users will, and require timm's exact outputs; returns what was checked.

    One forward pass: `AutoModel`'s features and pooled features, then the logits of the classifier that
    `AutoModelForImageClassification` loads, from those features (its `forward_head`). Both must find every weight
    they have in the folder (Transformers would otherwise initialise what is missing and only warn); the classifier
    must also use every weight of the folder. Models load
    outside inference mode, as users load them: parameters created in inference mode do not require grad, which
    changes the attention kernel PyTorch picks (pit's outputs then differ in the last bits).
    """
    import torch
    from timm.data import create_transform
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    def require_equal(what: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
        if actual.shape != expected.shape or not torch.equal(actual, expected):
            difference = (actual - expected).abs().max().item() if actual.shape == expected.shape else "shape"
            raise ExportError(f"{what} of the saved folder differ from timm's (max abs diff {difference})")

    def load(auto_class: Any, ignored: tuple[str, ...] = ()) -> Any:
        model, info = auto_class.from_pretrained(str(project_dir), trust_remote_code=True, output_loading_info=True)
        problems = {kind: keys for kind, keys in info.items() if keys and kind not in ignored}
        if problems:
            raise ExportError(f"{auto_class.__name__} did not load the saved weights as they are: {problems}")
        return model.eval()

    # The features model leaves out the classifier's head, which in some timm models is more than the
    # classifier (levit's and repvit's heads hold a BatchNorm): those keys are unexpected, by design.
    features_model = load(AutoModel, ignored=("unexpected_keys",))
    with torch.inference_mode():
        outputs = features_model(reference.pixel_values)
    del features_model
    require_equal("pooled features", outputs.pooler_output, reference.pre_logits)
    checked = ["pooled features"]
    if answers.has_head:
        classifier = load(AutoModelForImageClassification)
        if answers.labels and classifier.config.id2label != dict(enumerate(answers.labels)):
            raise ExportError("the saved folder's id2label is not the labels in their order")
        with torch.inference_mode():
            require_equal("logits", classifier.timm_model.forward_head(outputs.last_hidden_state), reference.logits)
        del classifier
        checked.insert(0, "logits")
    processor = AutoImageProcessor.from_pretrained(str(project_dir), trust_remote_code=True)
    image = sample_image(answers.data_config["input_size"][0])
    expected = create_transform(**answers.data_config, is_training=False)(image).unsqueeze(0)
    require_equal("image-processor pixels", processor(image, return_tensors="pt")["pixel_values"], expected)
    return [*checked, "processor pixels"]
