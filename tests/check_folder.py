"""Load a generated folder like a user does, in a fresh process, and compare it with timm.

Usage: python check_folder.py FOLDER ARCHITECTURE WEIGHTS [FOLDER ARCHITECTURE WEIGHTS ...]
WEIGHTS: a safetensors file of timm's keys (or the folder's own, with the `timm_model.` prefix), or `seed:N` for
timm's random initialisation after `torch.manual_seed(N)` (what `weights=random` promises with N = 0).
Prints one JSON line per folder: the measurements the tests assert on.
"""

import json
import sys

import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.data import create_transform, resolve_data_config
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    pipeline,
)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.shape == b.shape else float("inf")


def main(folder: str, architecture: str, weights: str) -> dict:
    if weights.startswith("seed:"):
        torch.manual_seed(int(weights.removeprefix("seed:")))
        reference = timm.create_model(architecture, pretrained=False)
    else:
        reference = timm.create_model(architecture, pretrained=False)
        state_dict = load_file(weights)  # a timm checkpoint, or the folder's own model.safetensors
        reference.load_state_dict({key.removeprefix("timm_model."): value for key, value in state_dict.items()})
    reference.eval()
    image = Image.effect_mandelbrot((300, 240), (-2.0, -1.2, 0.8, 1.2), 80).convert("RGB")
    timm_pixels = create_transform(**resolve_data_config(model=reference), is_training=False)(image).unsqueeze(0)
    pixel_values = torch.randn(2, *timm_pixels.shape[1:], generator=torch.Generator().manual_seed(1))

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    classifier = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    features = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    with torch.inference_mode():
        timm_logits = reference(pixel_values)
        timm_pre_logits = reference.forward_head(reference.forward_features(pixel_values), pre_logits=True)
        logits = classifier(pixel_values).logits
        pooled = features(pixel_values).pooler_output
        pixels = processor(image, return_tensors="pt")["pixel_values"]
        image_logits = classifier(pixels).logits
    classify = pipeline("image-classification", model=folder, trust_remote_code=True)
    return {
        "config_class": type(config).__name__,
        "model_class": type(features).__name__,
        "classifier_class": type(classifier).__name__,
        "processor_class": type(processor).__name__,
        "logits_max_abs_diff": max_abs_diff(logits, timm_logits),
        "logits_equal": bool(torch.equal(logits, timm_logits)),
        "pooled_max_abs_diff": max_abs_diff(pooled, timm_pre_logits),
        "pooled_equal": bool(torch.equal(pooled, timm_pre_logits)),
        "pixels_equal": bool(torch.equal(pixels, timm_pixels)),
        "pixels_shape": list(pixels.shape),
        "argmax_index": int(image_logits.argmax(-1)),
        "argmax_label": classifier.config.id2label[int(image_logits.argmax(-1))],
        "pipeline_label": classify(image, top_k=1)[0]["label"],
        "num_labels": classifier.config.num_labels,
    }


if __name__ == "__main__":
    arguments = sys.argv[1:]
    for start in range(0, len(arguments), 3):
        print(json.dumps(main(*arguments[start : start + 3])), flush=True)
