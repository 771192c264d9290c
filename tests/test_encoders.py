"""timm's encoders without a head (Qwen3VitEncoder, Gemma4VitEncoder, MobileNetV5Encoder, DeepseekVitEncoder: their
`forward_head` refuses) publish as feature-extraction repositories: the features model only, loaded three ways with
timm's exact `forward_features`, and a one-line refusal for labels."""

import json

import pytest
import timm
import torch
from helpers.support import bake

from timm_hub_template.answers import AnswerError, parse

ARCHITECTURE = "qwen3_vit_88m_enc"  # the smallest of them (100M parameters)
MODEL_ARGS = {"depth": 2}  # the same encoder and modeling code with two of its blocks, in far less time


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return bake(
        tmp_path_factory.mktemp("encoder"),
        architecture=ARCHITECTURE,
        weights="random",
        git_init="no",
        model_args=json.dumps(MODEL_ARGS),
    )


@pytest.fixture(scope="module")
def reference():
    """timm's own model as `weights=random` publishes it (seed 0), and its features of a fixed input."""
    torch.manual_seed(0)
    model = timm.create_model(ARCHITECTURE, **MODEL_ARGS).eval()
    pixel_values = torch.randn(1, *model.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return pixel_values, model.forward_features(pixel_values)


@pytest.mark.slow
def test_an_encoder_loads_three_ways_with_timms_features(folder, reference):
    from transformers import AutoModel

    pixel_values, features = reference
    for remote_code, expected_class in ((True, "Qwen3Vit88mEncModel"), (False, "TimmWrapperModel")):
        model = AutoModel.from_pretrained(folder, trust_remote_code=remote_code).eval()
        assert type(model).__name__ == expected_class
        with torch.no_grad():
            outputs = model(pixel_values)
        assert torch.equal(outputs.last_hidden_state, features), expected_class
        assert outputs.pooler_output is None, expected_class
        del model
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.equal(model.forward_features(pixel_values), features)


@pytest.mark.slow
def test_an_encoder_publishes_no_classifier(folder, reference):
    from PIL import Image
    from transformers import pipeline

    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoBackbone"}
    assert config["do_pooling"] is False  # Transformers' TimmWrapper reads it
    assert "class Qwen3Vit88mEncForImageClassification" not in (folder / "modeling_qwen3_vit_88m_enc.py").read_text()
    card = (folder / "README.md").read_text()
    assert "pipeline_tag: image-feature-extraction" in card
    assert "pool=True" not in card and "pooler_output" not in card  # the card's snippets do not pool
    # The card's pipeline, remote code off, as hosted inference runs it.
    extract = pipeline("image-feature-extraction", model=str(folder))
    assert torch.tensor(extract(Image.new("RGB", (64, 48)))).shape == reference[1].shape


def test_labels_for_an_encoder_are_one_line():
    context = {
        "architecture": ARCHITECTURE,
        "weights": "random",
        "num_labels": "3",
        "repo_name": "custom-encoder",
        "module_name": "encoder",
        "class_prefix": "Encoder",
    }
    with pytest.raises(AnswerError, match=r"^qwen3_vit_88m_enc is an encoder without a classifier .* num_labels=0"):
        parse(context)
