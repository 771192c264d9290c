"""Weights published in bfloat16 or float16, checked against timm's model cast to the same dtype."""

import json

import pytest
import timm
import torch
from helpers.support import bake, save_timm_checkpoint
from safetensors import safe_open
from safetensors.torch import load_file
from timm.models import load_state_dict
from transformers import AutoModelForImageClassification

from timm_hub_template.safetensors_stream import plan_files

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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_random_weights_are_timms_seed_0_initialisation_in_the_dtype(tmp_path, dtype):
    """README: `random` is timm's initialisation with seed 0, and random weights are initialised in the dtype."""
    from timm_hub_template import batch

    torch.manual_seed(1234)  # whatever state the process is in, the published weights are seed 0's
    folder = batch.generate(ARCHITECTURE, tmp_path, weights="random", dtype=dtype, git_init="no")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        torch.manual_seed(0)
        expected = timm.create_model(ARCHITECTURE).state_dict()
    finally:
        torch.set_default_dtype(previous)
    saved = load_file(folder / "model.safetensors")  # under timm's own names
    assert set(saved) == set(expected)
    for key, tensor in expected.items():
        assert saved[key].dtype == tensor.dtype, key
        assert torch.equal(saved[key], tensor), key


def test_the_giant_generates_on_the_meta_device(tmp_path):
    """vit_7b_patch16_dinov3 (6.7 B parameters): the generated model's keys and shapes equal timm's, built on the
    meta device; in bfloat16 its weights are 13.4 GB, which one copy on this 24 GiB machine holds."""
    from timm_hub_template import batch
    from timm_hub_template.answers import parse
    from timm_hub_template.cookiecutter_run import public_context

    folder = batch.check_structure("vit_7b_patch16_dinov3", tmp_path)
    assert (folder / "modeling_vit_7b_patch16_dinov3.py").is_file()
    context = batch.render_context(
        {"architecture": "vit_7b_patch16_dinov3", "weights": "random", "dtype": "bfloat16"}, tmp_path
    )
    answers = parse(public_context(context["cookiecutter"]))
    with torch.device("meta"):
        model = timm.create_model("vit_7b_patch16_dinov3", **answers.spec.create_kwargs)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert 6.5e9 < parameters < 7e9
    assert parameters * torch.finfo(answers.torch_dtype).bits // 8 < 14 * 2**30
    # Even in float32 (27 GB) its weights are planned as the one file timm's loaders read: they cannot read shards.
    assert model.state_dict()["cls_token"].dtype == torch.float32
    assert list(plan_files(model.state_dict()).filename_to_tensors) == ["model.safetensors"]


def test_a_bfloat16_generation_never_holds_the_model_in_float32(tmp_path):
    """Every model the generation builds outside the meta device holds bfloat16 parameters: the reference, the
    generated classes, TimmWrapper and timm's `local-dir:` loader (a float32 build of
    vit_7b_patch16_dinov3's 6.7B parameters would need 27 GB)."""
    from torch.nn.modules.module import register_module_parameter_registration_hook

    from timm_hub_template import batch

    built = set()
    handle = register_module_parameter_registration_hook(
        lambda module, name, parameter: built.add((parameter.dtype, parameter.device.type))
    )
    try:
        batch.generate(ARCHITECTURE, tmp_path, weights="random", dtype="bfloat16", git_init="no")
    finally:
        handle.remove()
    assert {dtype for dtype, device in built if device != "meta"} == {torch.bfloat16}
