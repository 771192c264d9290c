"""The model card: Hub metadata, stats checked against independent counts, and usage snippets that run."""

import math
import os
import re
import subprocess
import sys

import pytest
import timm
import torch
from helpers.support import (
    HUB_REVISION,
    TEMPLATE_DIR,
    bake,
    bake_in_subprocess,
    save_timm_checkpoint,
    seed_hub_cache,
    seed_hub_snapshot,
)
from huggingface_hub import ModelCard
from PIL import Image

CNN = "resnet18.a1_in1k"  # convolutions and one linear layer
VIT = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"  # attention products counted too
OWNER = "acme-vision"
DESCRIPTION = "ResNet-18 re-packaged for the Hub, with timm's weights."


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """Both architectures generated from timm's pretrained release, through a seeded offline HF cache."""
    root = tmp_path_factory.mktemp("cards")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_CACHE", str(root / "hub"))
        folders = {}
        for architecture, extra in ((CNN, {"hub_owner": OWNER, "description": DESCRIPTION}), (VIT, {})):
            weights = save_timm_checkpoint(architecture, root / f"{architecture}.safetensors", seed=3)
            seed_hub_cache(root / "hub", f"timm/{architecture}", weights)
            folders[architecture] = bake_in_subprocess(
                root / "out", architecture=architecture, weights="pretrained", **extra
            )
    return folders


def stat_lines(text):
    return dict(re.findall(r"^  - (Params \(M\)|GMACs|Activations \(M\)|Image size): (.+)$", text, re.MULTILINE))


def independent_counts(architecture):
    """MACs and activations from module hooks: convolutions, linear layers and attention's two products."""
    model = timm.create_model(architecture).eval()
    totals = {"macs": 0, "activations": 0}

    def convolution(module, inputs, output):
        totals["macs"] += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        totals["activations"] += output.numel()

    def linear(module, inputs, output):
        totals["macs"] += output.numel() * module.in_features
        totals["activations"] += output.numel()

    def attention(module, inputs, output):
        batch, tokens, _ = inputs[0].shape
        scores, mixed = batch * module.num_heads * tokens * tokens, batch * module.num_heads * tokens * module.head_dim
        totals["macs"] += 2 * scores * module.head_dim  # Q K^T and A V
        totals["activations"] += scores + mixed

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(convolution)
        elif isinstance(module, torch.nn.Linear):
            module.register_forward_hook(linear)
        elif type(module).__name__ == "Attention":
            module.register_forward_hook(attention)
    with torch.no_grad():
        model(torch.zeros(1, *model.pretrained_cfg["input_size"]))
    params = sum(parameter.numel() for parameter in model.parameters())
    return params, totals["macs"], totals["activations"]


@pytest.mark.parametrize(
    ("architecture", "datasets"), [(CNN, ["imagenet-1k"]), (VIT, ["imagenet-21k", "imagenet-1k"])]
)
def test_card_metadata_is_what_the_hub_indexes(cards, architecture, datasets):
    card = ModelCard.load(cards[architecture] / "README.md")
    data = card.data.to_dict()
    # timm: the Hub's snippet is timm.create_model("hf_hub:..."), without remote code.
    assert data["library_name"] == "timm"
    assert data["pipeline_tag"] == "image-classification"
    assert {"timm", "transformers", "image-classification", "custom_code"} <= set(data["tags"])
    assert data["license"] == timm.models.get_pretrained_cfg(architecture).license == "apache-2.0"
    assert data["datasets"] == datasets
    assert data["base_model"] == f"timm/{architecture}"


@pytest.mark.parametrize("architecture", [CNN, VIT])
def test_card_stats_equal_independent_counts(cards, architecture):
    params, macs, activations = independent_counts(architecture)
    stats = stat_lines((cards[architecture] / "README.md").read_text())
    assert stats == {
        "Params (M)": f"{params / 1e6:.1f}",
        "GMACs": f"{macs / 1e9:.2f}",
        "Activations (M)": f"{activations / 1e6:.1f}",
        "Image size": "224 x 224",
    }


def test_card_sections_name_the_owner_description_provenance_and_citation(cards):
    folder = cards[CNN]
    text = (folder / "README.md").read_text()
    sha256 = subprocess.run(["sha256sum", folder / "model.safetensors"], capture_output=True, text=True, check=True)
    assert f"# Model card for {OWNER}/custom-resnet18" in text
    assert DESCRIPTION in text
    assert f'repo_id = "{OWNER}/custom-resnet18"' in text
    assert f"`{sha256.stdout.split()[0]}`" in text
    assert f"[`timm/{CNN}`](https://huggingface.co/timm/{CNN}) at revision `{HUB_REVISION}`" in text
    assert f"timm {timm.__version__}, transformers " in text
    assert "@misc{rw2019timm," in text
    assert "https://arxiv.org/abs/2110.00476" in text  # the paper timm's pretrained config names for a1_in1k
    for section in ("Model Details", "Usage", "Files", "Provenance", "Citation"):
        assert f"\n## {section}\n" in text


def test_license_variable_overrides_timms(tmp_path):
    folder = bake(tmp_path, architecture="mobilenetv3_small_050", weights="random", num_labels="0", license="mit")
    data = ModelCard.load(folder / "README.md").data.to_dict()
    assert data["license"] == "mit"
    assert data["pipeline_tag"] == "image-feature-extraction"  # headless: the features model
    assert "datasets" not in data and "base_model" not in data  # random weights: no dataset, no base model
    assert "### Image classification" not in (folder / "README.md").read_text()


RUNNER = """
import sys
for number, snippet in enumerate(sys.argv[1:]):
    print(f"--- snippet {number}")
    exec(compile(open(snippet).read(), snippet, "exec"), {"__name__": "__main__"})
"""


def test_usage_snippets_run_against_the_local_folder(cards, tmp_path):
    folder = cards[CNN]
    text = (folder / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    # timm; Transformers without remote code; with remote code: classification, features, backbone feature maps
    assert len(snippets) == 5
    assert "trust_remote_code" not in snippets[0] + snippets[1]
    paths = []
    for number, snippet in enumerate(snippets):
        local = snippet.replace(f'repo_id = "{OWNER}/custom-resnet18"', f"repo_id = {str(folder)!r}")
        local = local.replace('f"hf-hub:{repo_id}"', 'f"local-dir:{repo_id}"')  # timm's name for a folder
        assert local != snippet
        paths.append(tmp_path / f"snippet_{number}.py")
        paths[-1].write_text(local)
    Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 0.8, 1.2), 64).convert("RGB").save(tmp_path / "image.jpg")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, paths)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = result.stdout.split("--- snippet ")[1:]
    descriptions = timm.data.ImageNetInfo().label_descriptions()
    timm_labels = re.findall(r"^(.+): (0\.\d{3}|1\.000)$", outputs[0], re.MULTILINE)
    assert len(timm_labels) == 5 and all(label in descriptions for label, _ in timm_labels)
    wrapper_labels = re.findall(r"'label': '([^']+)'", outputs[1])
    labels = re.findall(r"^(.+): (0\.\d{3}|1\.000)$", outputs[2], re.MULTILINE)
    assert len(labels) == 5 and all(label in descriptions for label, _ in labels)
    # The three ways rank the same classes first.
    assert [label for label, _ in timm_labels] == wrapper_labels == [label for label, _ in labels]
    assert "torch.Size([1, 512, 7, 7])" in outputs[3] and "torch.Size([1, 512])" in outputs[3]
    assert len(re.findall(r"torch\.Size\(\[1, \d+, \d+, \d+\]\)", outputs[4])) == 5  # act1 and layer1..layer4


def test_usage_snippets_run_as_written_from_the_hub_cache(cards, tmp_path):
    """The card's snippets unchanged, the repository in a Hugging Face cache under the card's repo id, as a user has
    it after the first download: every way loads it as the card writes it."""
    folder = cards[CNN]
    seed_hub_snapshot(tmp_path / "hub", f"{OWNER}/custom-resnet18", folder)
    snippets = re.findall(r"```python\n(.*?)```", (folder / "README.md").read_text(), re.DOTALL)
    paths = [tmp_path / f"snippet_{number}.py" for number in range(len(snippets))]
    for path, snippet in zip(paths, snippets):
        path.write_text(snippet)
    Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 0.8, 1.2), 64).convert("RGB").save(tmp_path / "image.jpg")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, paths)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("--- snippet ") == len(snippets) == 5


def test_timms_release_is_named_only_for_its_own_weights(cards, tmp_path):
    """config.json's pretrained_cfg names timm's release (licence, origin) for timm's weights, and for random weights
    none of it: they are nobody's release. (The tag stays: timm builds some architectures from it.)"""
    import json

    released = json.loads((cards[CNN] / "config.json").read_text())["pretrained_cfg"]
    assert released["tag"] == "a1_in1k" and "origin_url" in released and "license" in released
    folder = bake(tmp_path, architecture=CNN, weights="random", git_init="no")
    untrained = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    assert not {"origin_url", "license", "paper_ids"} & set(untrained), untrained
    assert untrained["crop_pct"] == released["crop_pct"]  # the preprocessing stays the architecture's


def test_the_run_says_each_step_and_a_card_without_an_owner(tmp_path):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path), str(TEMPLATE_DIR)]
    variables = ["architecture=resnet10t", "weights=random", "git_init=no"]
    bare = subprocess.run([*command, *variables], capture_output=True, text=True, check=True)
    steps = [
        "Weights: random initialisation",
        "Wrote config.json, the code and model.safetensors (",
        "Wrote the model card (README.md)",
        "Verified: loaded with its own code",
        "Verified: loaded with Transformers' TimmWrapper",
        "Verified: loaded with timm (local-dir:)",
        "Verified: both image processors by repo id",
        "Generated ",
    ]
    lines = bare.stdout.splitlines()
    positions = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in steps]
    assert positions == sorted(positions), bare.stdout
    assert "Warning: the card names the repository 'custom-resnet10t' with no owner" in bare.stdout
    owned = subprocess.run(
        [*command, *variables, "hub_owner=acme", "repo_name=owned"], capture_output=True, text=True, check=True
    )
    assert "with no owner" not in owned.stdout + owned.stderr
    assert 'repo_id = "acme/owned"' in (tmp_path / "owned" / "README.md").read_text()


def test_stats_count_models_that_hand_a_parameter_to_a_submodule():
    """pit passes its class token, a parameter, straight to a submodule: FlopCounterMode's tracker needs care."""
    from timm_hub_template.stats import measure

    model = timm.create_model("pit_ti_224")
    with torch.device("meta"):
        meta_model = timm.create_model("pit_ti_224")
    on_meta = measure(model, (3, 224, 224), meta_model)
    on_cpu = measure(model, (3, 224, 224))
    assert on_meta == on_cpu and on_cpu.macs > 0 and on_cpu.activations > 0
    assert all(parameter.requires_grad for parameter in model.parameters())


# Per architecture, what is true of timm's model (hard-coded, not computed by the template): whether its class
# is built from explicit config fields (the fallbacks are timm's hybrid ViTs, README and COVERAGE.md), and whether
# timm's `set_grad_checkpointing(True)` works (dla's asserts "gradient checkpointing not supported").
ARCHITECTURE_FACTS = {
    "resnet18": (True, True),
    "mobilenetv3_small_050": (True, True),
    "dla34": (True, False),
    "vit_base_r50_s16_224": (False, True),
    "vit_tiny_r_s16_p8_224": (False, True),
}


@pytest.mark.parametrize(("architecture", "facts"), ARCHITECTURE_FACTS.items())
def test_card_promises_only_what_the_architecture_has(tmp_path, architecture, facts):
    """Explicit config fields only where the fields are explicit; activation checkpointing only where timm has it."""
    from timm_hub_template import batch
    from timm_hub_template.card import Provenance, write_model_card
    from timm_hub_template.export import library_versions
    from timm_hub_template.stats import ModelStats

    explicit, checkpointing = facts
    answers = batch.parse_answers(batch.render_context({"architecture": architecture, "weights": "random"}, tmp_path))
    stats = ModelStats(params=1, macs=1, activations=1, input_size=(3, 224, 224))
    provenance = Provenance("0", "random", {"model.safetensors": "0"}, library_versions())
    write_model_card(tmp_path, answers, stats, provenance)
    text = (tmp_path / "README.md").read_text()
    assert ("from explicit config fields" in text) == explicit
    assert (f"create timm's `{architecture}` by name" in text) == (not explicit)
    assert ("activation_checkpointing_enable()" in text) == checkpointing
