"""ONNX with parity (the opt-in `onnx` variable) and the standard image-processor fields.

`onnx=yes` adds `onnx/model.onnx` (torch.onnx.export, dynamic batch axis, onnx.checker, onnxruntime within the
tolerance of timm's logits, the max abs diff in the card). Beside the graph, `onnx/preprocessor_config.json` holds
the standard fields (`size`, `crop_size`, `resample`, ...) that ONNX runtimes' preprocessing reads: a standard
Transformers processor built from them gives timm's pixels (the one difference, the center crop's rounding, is
shown exactly). The repository's processors read config.json's `pretrained_cfg`, the one copy they all read.
"""

import json
import subprocess

import numpy
import onnx
import onnxruntime
import pytest
import timm
import torch
from helpers.support import bake
from timm.data import create_transform
from torchvision import transforms
from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from timm_hub_template import answers as parsing
from timm_hub_template import dependencies
from timm_hub_template.data_config import DATA_CONFIG_KEYS
from timm_hub_template.processor_fields import exact_standard_fields, standard_fields
from timm_hub_template.verify import sample_image

TOLERANCE = 1e-4  # README: "within 1e-4 times max(1, max |output|)" of timm's outputs

STANDARD_KEYS = (
    "do_resize",
    "size",
    "resample",
    "do_center_crop",
    "crop_size",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
)


def context(architecture, **variables):
    names = {"repo_name": "x", "module_name": "x", "class_prefix": "X"}
    return {"architecture": architecture, "weights": "random", **names, **variables}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return bake(tmp_path_factory.mktemp("onnx"), architecture="resnet18", weights="random", git_init="no", onnx="yes")


@pytest.fixture(scope="module")
def headless(tmp_path_factory):
    return bake(
        tmp_path_factory.mktemp("onnx_headless"),
        architecture="mobilenetv3_small_050",
        weights="random",
        num_labels="0",
        onnx="yes",  # git_init=yes, the default: the graph goes to Git LFS
    )


def run_onnx(folder, pixel_values):
    session = onnxruntime.InferenceSession(str(folder / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    return session, session.run(None, {"pixel_values": pixel_values.numpy()})


@pytest.mark.slow
def test_classifier_onnx_gives_the_logits_within_tolerance(classifier):
    onnx.checker.check_model(str(classifier / "onnx" / "model.onnx"), full_check=True)
    model = AutoModelForImageClassification.from_pretrained(classifier, trust_remote_code=True).eval()
    pixel_values = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(7))  # not the export's batch
    with torch.inference_mode():
        logits = model(pixel_values).logits
    session, (onnx_logits,) = run_onnx(classifier, pixel_values)
    assert [i.name for i in session.get_inputs()] == ["pixel_values"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # dynamic batch axis
    difference = numpy.abs(onnx_logits - logits.numpy()).max()
    print(f"resnet18 ONNX logits max abs diff (batch of 3): {difference:.3g}")
    assert onnx_logits.shape == (3, 1000)
    assert difference <= TOLERANCE * max(1.0, float(logits.abs().max()))


@pytest.mark.slow
def test_card_states_the_onnx_difference_and_files(classifier):
    card = (classifier / "README.md").read_text()
    line = next(line for line in card.splitlines() if line.startswith("- **ONNX:**"))
    assert "`onnx/model.onnx`" in line and "dynamic batch axis" in line and "`pixel_values` -> `logits`" in line
    assert "differ from timm's by at most" in line and "max abs diff" in line
    # The tolerance the export applied: 1e-4 times max(1, max |logits|) on its two images (the verification's
    # seed-0 image and its mirror), computed here from timm's seed-0 resnet18.
    torch.manual_seed(0)
    reference = timm.create_model("resnet18").eval()
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits = reference(torch.cat([pixel_values, pixel_values.flip(-1)]))
    assert f"tolerance {TOLERANCE * max(1.0, float(logits.abs().max())):.0e}:" in line
    assert "- `onnx/model.onnx`: the ONNX graph" in card
    assert "- `onnx/preprocessor_config.json`: the standard image-processor fields" in card
    assert sorted(path.name for path in (classifier / "onnx").iterdir()) == ["model.onnx", "preprocessor_config.json"]
    assert "*.onnx filter=lfs" in (classifier / ".gitattributes").read_text()


@pytest.mark.slow
def test_headless_onnx_gives_the_features(headless):
    model = AutoModel.from_pretrained(headless, trust_remote_code=True).eval()
    pixel_values = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        outputs = model(pixel_values)
    session, (hidden, pooled) = run_onnx(headless, pixel_values)
    assert [o.name for o in session.get_outputs()] == ["last_hidden_state", "pooler_output"]
    difference = max(
        numpy.abs(hidden - outputs.last_hidden_state.numpy()).max(),
        numpy.abs(pooled - outputs.pooler_output.numpy()).max(),
    )
    print(f"mobilenetv3_small_050 (headless) ONNX features max abs diff: {difference:.3g}")
    assert difference <= TOLERANCE * max(1.0, float(outputs.last_hidden_state.abs().max()))
    assert "`pixel_values` -> `last_hidden_state`, `pooler_output`" in (headless / "README.md").read_text()


@pytest.mark.slow
def test_the_graph_is_committed_in_git_lfs(headless):
    command = ["git", "lfs", "ls-files", "--name-only"]
    stored = subprocess.run(command, cwd=headless, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(stored) == ["model.safetensors", "onnx/model.onnx"]


@pytest.mark.slow
def test_the_standard_fields_lie_beside_the_graph(classifier):
    saved = json.loads((classifier / "onnx" / "preprocessor_config.json").read_text())
    assert saved == {
        "do_resize": True,
        "size": {"shortest_edge": 235},  # floor(224 / 0.95): resnet18's crop_pct
        "resample": 3,  # bicubic
        "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
    }
    # The repository's own processor reads config.json's pretrained_cfg, the one copy of the preprocessing.
    assert not (classifier / "preprocessor_config.json").exists()
    processor = AutoImageProcessor.from_pretrained(classifier, trust_remote_code=True)
    assert processor.data_config["crop_pct"] == 0.95


def standard_pixels(fields, image):
    return torch.as_tensor(CLIPImageProcessorPil(**fields)(image, return_tensors="pt")["pixel_values"][0])


def floor_centered(config, image):
    """timm's eval transform with the center crop placed as Transformers places it: the margin's floor half
    (torchvision rounds half a pixel to even: round(5.5) = 6, Transformers 11 // 2 = 5)."""
    resize, _, *rest = create_transform(**config, is_training=False).transforms
    resized = resize(image)
    height, width = config["input_size"][1:]
    top, left = (resized.height - height) // 2, (resized.width - width) // 2
    return transforms.Compose(rest)(resized.crop((left, top, left + width, top + height)))


@pytest.mark.slow
def test_standard_processor_from_the_saved_fields_gives_timm_pixels(classifier):
    """resnet18 (crop_pct 0.95): the shortest edge goes to 235 and 11 px are cut from it, for every image:
    torchvision cuts 6 before (round(5.5) = 6, half to even) and Transformers 5 (11 // 2), so a standard processor
    gives timm's resized image cropped one pixel apart along that edge (the crops differ whenever the margin is
    3 mod 4), and otherwise timm's exact pixels."""
    saved = json.loads((classifier / "onnx" / "preprocessor_config.json").read_text())
    pretrained_cfg = json.loads((classifier / "config.json").read_text())["pretrained_cfg"]
    config = {key: pretrained_cfg[key] for key in DATA_CONFIG_KEYS}
    config["input_size"] = tuple(pretrained_cfg["input_size"])
    image = sample_image(3)
    processor = AutoImageProcessor.from_pretrained(classifier, trust_remote_code=True)
    timm_pixels = processor(image, return_tensors="pt")["pixel_values"][0]
    actual = standard_pixels({key: saved[key] for key in STANDARD_KEYS}, image)
    difference = (actual - timm_pixels).abs().max()
    print(f"resnet18, standard processor vs timm's transform (sample image): max abs diff {difference:.3g}")
    assert torch.equal(actual, floor_centered(config, image))
    assert torch.equal(actual[:, 1:], timm_pixels[:, :-1])  # the same rows, one apart


@pytest.mark.parametrize(
    "architecture, data_config",
    [
        ("resnet50d", {}),  # crop_pct 0.875, bicubic
        ("vit_tiny_patch16_224", {}),  # crop_pct 0.9, bicubic, mean/std 0.5
        ("resnet50d", {"crop_mode": "squash"}),
        ("resnet50d", {"crop_pct": 1.0, "interpolation": "bilinear"}),
    ],
)
def test_standard_fields_give_timm_pixels(architecture, data_config):
    """Exact on the sample image (257 x 193); on an image where the crop's margin is 3 mod 4 (300 x 211 -> 363 x
    256, 139 px to cut), torchvision centers with round(69.5) = 70 px and Transformers with 139 // 2 = 69 px: the
    same resize, cropped one pixel apart; nothing else differs."""
    config = parsing.parse(context(architecture, data_config=json.dumps(data_config))).data_config
    fields = standard_fields(config)
    assert exact_standard_fields(config)
    timm_transform = create_transform(**config, is_training=False)
    image = sample_image(3)
    assert torch.equal(standard_pixels(fields, image), timm_transform(image))
    odd = sample_image(3).resize((300, 211))
    resize, _, *rest = timm_transform.transforms
    resized = resize(odd)
    height, width = config["input_size"][1:]
    top, left = (resized.height - height) // 2, (resized.width - width) // 2  # Transformers' center crop
    floor_cropped = transforms.Compose(rest)(resized.crop((left, top, left + width, top + height)))
    assert torch.equal(standard_pixels(fields, odd), floor_cropped)


def test_non_square_center_crop_is_approximate():
    """timm's ResizeKeepRatio for a non-square input has no standard field: the nearest (`shortest_edge` of the
    smaller scaled edge) is written and said to be approximate."""
    config = parsing.parse(context("resnet50d", data_config='{"input_size": [3, 160, 128]}')).data_config
    assert not exact_standard_fields(config)
    fields = standard_fields(config)
    assert fields["size"] == {"shortest_edge": 146} and fields["crop_size"] == {"height": 160, "width": 128}
    image = sample_image(3)
    difference = (standard_pixels(fields, image) - create_transform(**config)(image)).abs().max()
    print(f"non-square center crop: max abs pixel diff {difference:.3g} (normalised units)")


def test_onnx_variable_is_yes_or_no():
    assert parsing.parse(context("resnet18")).onnx is False
    assert parsing.parse(context("resnet18", onnx="yes")).onnx is True
    with pytest.raises(parsing.AnswerError, match="onnx must be yes or no"):
        parsing.parse(context("resnet18", onnx="maybe"))


def test_missing_onnx_packages_are_named_in_one_line(tmp_path):
    requirements = tmp_path / "requirements-onnx.txt"
    requirements.write_text("# comment\nonnx>=1.17\nnot-an-installed-distribution-xyz>=1\n")
    absent = dependencies.missing(requirements)
    assert absent == ["not-an-installed-distribution-xyz>=1"]
    hint = dependencies.onnx_install_hint(absent)
    assert "\n" not in hint
    assert hint.startswith("onnx=yes needs not-an-installed-distribution-xyz: install them with `python -m pip")
    assert str(dependencies.ONNX_REQUIREMENTS) in hint
    # The packages onnx=yes needs are requirements-onnx.txt, which the tests install and the template does not.
    assert dependencies.missing_onnx() == []
    assert {line.split(">")[0] for line in dependencies.requirements(dependencies.ONNX_REQUIREMENTS)} == {
        "onnx",
        "onnxruntime",
        "onnxscript",
    }
    assert not {"onnx", "onnxruntime"} & {line.split(">")[0] for line in dependencies.requirements()}


@pytest.mark.slow
def test_onnx_sweep_rows_say_the_result_or_the_reason():
    from timm_hub_template.maintenance.onnx_sweep import markdown, run_one

    passed = run_one("resnet", "test_resnet")
    failed = run_one("none", "not_a_timm_architecture")
    assert passed.status == "ok" and passed.exporter == "dynamo" and passed.max_abs_diff <= passed.tolerance
    assert failed.status == "fail" and failed.reason.startswith("AnswerError: unknown timm architecture")
    table = markdown([passed, failed], passed.seconds + failed.seconds)
    assert "1 of 2 architectures" in table
    assert "| resnet | `test_resnet` | ok | dynamo |" in table
    assert "| none | `not_a_timm_architecture` | **fails**: AnswerError: unknown timm architecture" in table
