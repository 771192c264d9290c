"""Load a generated folder like a user does, in a fresh process, and compare it with timm: with the repository's
code (`trust_remote_code=True`), with Transformers' TimmWrapper (no remote code) and with timm (`local-dir:`).

Usage: python tests/helpers/check_folder.py FOLDER ARCHITECTURE WEIGHTS [CREATE_KWARGS_JSON [DATA_CONFIG_JSON]]
WEIGHTS: a safetensors file of timm's keys (or the folder's own), or `seed:N` for timm's random initialisation after
`torch.manual_seed(N)` (what `weights=random` promises with N = 0).
FOLDER may be a Hub repo id held in the Hugging Face cache: with CHECK_FOLDER_TIMM_SOURCE=hf-hub timm then loads
`hf-hub:<FOLDER>`. CREATE_KWARGS_JSON: timm.create_model's arguments of the reference (`{"num_classes": 3}`);
DATA_CONFIG_JSON: preprocessing that replaces the architecture's in the reference's pretrained config.
Prints one JSON line: the measurements the tests assert on.
"""

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

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
from transformers.utils import logging as transformers_logging

# Run as a script, only this folder is on the path: tests/ after it too, for the `helpers` package (last, so that an
# environment's own packages, another timm on PYTHONPATH included, come first).
sys.path.append(str(Path(__file__).resolve().parents[1]))


def as_json(value):
    return json.loads(json.dumps(value))


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max()) if a.shape == b.shape else float("inf")


class Warnings(logging.Handler):
    """Every warning Transformers logs while it is attached."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def load_with_transformers(folder, reference, pixel_values, image, timm_pixels, trust_remote_code=False) -> dict:
    """The Auto classes and pipelines, with the repository's code (`trust_remote_code=True`) or, as a user who does
    not pass it loads the folder, without: Transformers' TimmWrapper classes."""
    code = {"trust_remote_code": True} if trust_remote_code else {}
    config = AutoConfig.from_pretrained(folder, **code)
    classifier = AutoModelForImageClassification.from_pretrained(folder, **code).eval()
    features = AutoModel.from_pretrained(folder, **code).eval()
    processor = AutoImageProcessor.from_pretrained(folder, **code)
    with torch.inference_mode():
        timm_logits = reference(pixel_values)
        timm_pre_logits = reference.forward_head(reference.forward_features(pixel_values), pre_logits=True)
        logits = classifier(pixel_values).logits
        pooled = features(pixel_values).pooler_output
        pixels = processor(image, return_tensors="pt")["pixel_values"]
        image_logits = classifier(pixels).logits
    classify = pipeline("image-classification", model=folder, **code)
    extract = pipeline("image-feature-extraction", model=folder, **code)
    with torch.inference_mode():
        extracted = torch.tensor(extract(image, pool=True))  # the pooled features of the pipeline's pixels
        pipeline_pooled = features(timm_pixels).pooler_output
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
        "feature_pipeline_equal": bool(torch.equal(extracted.reshape(pipeline_pooled.shape), pipeline_pooled)),
        "num_labels": classifier.config.num_labels,
        "labels": [classifier.config.id2label[i] for i in range(classifier.config.num_labels)],
    }


def load_with_timm(folder, reference, pixel_values, image, timm_pixels) -> dict:
    """`timm.create_model("local-dir:<folder>", pretrained=True)` and timm's data config of that model."""
    source = os.environ.get("CHECK_FOLDER_TIMM_SOURCE", "local-dir")
    if source == "local-dir" and "local-dir" not in getattr(timm.models._factory, "_MODEL_SOURCES", ()):
        # timm before 1.0.16 reads only hf-hub: the folder as a Hub repository, in a cache of its own.
        import huggingface_hub.constants

        from helpers.support import seed_hub_snapshot

        cache = Path(tempfile.mkdtemp(prefix="check-folder-hub-"))
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        seed_hub_snapshot(cache, "local/folder", Path(folder))
        huggingface_hub.constants.HF_HUB_CACHE = str(cache)
        source, folder = "hf-hub", "local/folder"
    model = timm.create_model(f"{source}:{folder}", pretrained=True).eval()
    with torch.inference_mode():
        logits = model(pixel_values)
        timm_logits = reference(pixel_values)
    pixels = create_transform(**resolve_data_config(model=model), is_training=False)(image).unsqueeze(0)
    return {
        "source": source,
        "model_class": type(model).__name__,
        "logits_equal": bool(torch.equal(logits, timm_logits)),
        "data_config_equal": as_json(resolve_data_config(model=model))
        == as_json(resolve_data_config(model=reference)),
        "pixels_equal": bool(torch.equal(pixels, timm_pixels)),
        "labels": list(model.pretrained_cfg.get("label_names") or []),
    }


def reported(load, *arguments) -> dict:
    """`load`'s report, or the error it raised: one loader failing must not hide the others."""
    try:
        return load(*arguments)
    except Exception as error:  # noqa: BLE001 - reported to the test, which asserts on it
        return {"error": f"{type(error).__name__}: {error}"[:2000]}


def main(folder: str, architecture: str, weights: str, create_kwargs: str = "{}", data_config: str = "{}") -> dict:
    if weights.startswith("seed:"):  # timm's random initialisation, independent of the folder
        torch.manual_seed(int(weights.removeprefix("seed:")))
    reference = timm.create_model(architecture, pretrained=False, **json.loads(create_kwargs))
    reference.pretrained_cfg = {**reference.pretrained_cfg, **json.loads(data_config)}  # the user's preprocessing
    if not weights.startswith("seed:"):
        state_dict = load_file(weights)  # a timm checkpoint, or the folder's own model.safetensors
        reference.load_state_dict({key.removeprefix("timm_model."): value for key, value in state_dict.items()})
    reference.eval()
    image = Image.effect_mandelbrot((300, 240), (-2.0, -1.2, 0.8, 1.2), 80).convert("RGB")
    timm_pixels = create_transform(**resolve_data_config(model=reference), is_training=False)(image).unsqueeze(0)
    pixel_values = torch.randn(2, *timm_pixels.shape[1:], generator=torch.Generator().manual_seed(1))

    warnings = Warnings()
    transformers_logging.get_logger().addHandler(warnings)
    with_code = load_with_transformers(folder, reference, pixel_values, image, timm_pixels, trust_remote_code=True)
    with_code["warnings"] = list(warnings.messages)
    warnings.messages.clear()
    without_code = reported(load_with_transformers, folder, reference, pixel_values, image, timm_pixels)
    without_code["warnings"] = list(warnings.messages)
    return {
        **with_code,
        "timm_wrapper": without_code,
        "timm": reported(load_with_timm, folder, reference, pixel_values, image, timm_pixels),
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])))
