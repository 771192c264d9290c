"""Issue 13: weights published in bfloat16 or float16, checked against timm's model cast to the same dtype."""

import json

import pytest
import timm
import torch
from safetensors import safe_open
from support import bake, save_timm_checkpoint
from timm.models import load_state_dict
from transformers import AutoModelForImageClassification

ARCHITECTURE = "mobilenetv3_small_050"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_weights_are_published_in_the_dtype_and_match_timm_cast_to_it(tmp_path, dtype):
    checkpoint = save_timm_checkpoint(ARCHITECTURE, tmp_path / "weights.safetensors", seed=4)
    folder = bake(tmp_path / "out", architecture=ARCHITECTURE, weights=str(checkpoint), dtype=dtype, git_init="no")
    torch_dtype = getattr(torch, dtype)
    assert json.loads((folder / "config.json").read_text())["dtype"] == dtype
    with safe_open(str(folder / "model.safetensors"), framework="pt") as saved:
        dtypes = {saved.get_slice(key).get_dtype() for key in saved.keys()}  # noqa: SIM118
    assert dtypes <= {"BF16" if dtype == "bfloat16" else "F16", "I64"}  # BatchNorm's num_batches_tracked stays

    reference = timm.create_model(ARCHITECTURE)
    reference.load_state_dict(load_state_dict(str(checkpoint)))
    reference = reference.to(torch_dtype).eval()
    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    assert model.dtype == torch_dtype  # loaded in the published dtype by default
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert torch.equal(model(pixels).logits, reference(pixels.to(torch_dtype)))
    assert f"- **Weights dtype:** {dtype}" in (folder / "README.md").read_text()
    upcast = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    assert upcast.dtype == torch.float32
