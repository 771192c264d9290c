"""Real training runs, as users type them, publish exactly, from any folder.

Each run is saved as timm's `train.py` saves it (`CheckpointSaver`, `args` with every field of its parser) in a
training folder laid out as `train.py` leaves it (`data/`, `output/train/<run>/`), and published with the
cookiecutter command line run *from that folder* with relative paths, as users do (the template lives
elsewhere). The published folder is compared with what timm gives a timm user of the same run: `create_model` as
`train.py` called it, timm's own `load_checkpoint`, and the eval transform `train.py` used
(`create_transform(**resolve_data_config(vars(args), model))`): pixels and logits `torch.equal`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers.support import TEMPLATE_DIR
from helpers.training_run import create_model_like_train_py, photo, timm_reference, train_and_save, train_py_args
from huggingface_hub import ModelCard
from transformers import AutoImageProcessor, AutoModelForImageClassification

RUN = "output/train/20261201-run"  # train.py's --output/--experiment layout
pytestmark = pytest.mark.slow  # trains a model per run


def publish(training_dir, *variables, check=True):
    """The cookiecutter command line, run in the training folder with the template given by its path."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", "published", str(TEMPLATE_DIR)]
    result = subprocess.run(
        [*command, "git_init=no", *variables], cwd=training_dir, capture_output=True, text=True, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def loaded(folder):
    model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    return model, processor


def assert_same_as_timm(folder, args, checkpoint, mode="RGB"):
    """The folder's processor and model give timm's pixels and logits for the run, exactly."""
    reference, transform, _ = timm_reference(args, checkpoint)
    model, processor = loaded(folder)
    image = photo(mode)
    pixels = processor(image, return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels, transform(image).unsqueeze(0).to(pixels.dtype))
    with torch.inference_mode():
        expected = reference(pixels.to(next(reference.parameters()).dtype))
        assert torch.equal(model(pixels).logits, expected)
    return model


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory):
    """`train.py data --model resnet18.tv_in1k --num-classes 3 --class-map classes.txt --channels-last`: the class
    map relative, next to the data (timm finds it under --data-dir)."""
    root = tmp_path_factory.mktemp("training")
    (root / "data").mkdir()
    (root / "data" / "classes.txt").write_text("cat\ndog\nbird\n")
    args = train_py_args(
        data="data", model="resnet18.tv_in1k", num_classes=3, class_map="classes.txt", channels_last=True
    )
    checkpoint = train_and_save(create_model_like_train_py(args), args, root / RUN)
    result = publish(root, "architecture=resnet18", f"weights={RUN}/model_best.pth.tar")
    return root, args, checkpoint, root / "published" / "custom-resnet18", result


def test_relative_paths_start_in_the_folder_the_user_is_in(tagged_run):
    root, _, checkpoint, folder, result = tagged_run
    assert folder.is_dir()
    # The summary names the absolute paths that were used; nothing published names a local folder.
    assert f"Weights: {checkpoint.resolve()} (state_dict)" in result.stdout
    assert f"Labels: 3 class names from {(root / 'data' / 'classes.txt').resolve()}" in result.stdout
    for path in folder.iterdir():
        if path.suffix in (".json", ".md", ".py"):
            assert str(root) not in path.read_text(), path.name


def test_a_tagged_model_publishes_the_runs_preprocessing_and_class_map(tagged_run):
    _, args, checkpoint, folder, _ = tagged_run
    _, _, config = timm_reference(args, checkpoint)
    assert config["interpolation"] == "bilinear" and config["crop_pct"] == 0.875  # tv_in1k's, not a1_in1k's
    assert_same_as_timm(folder, args, checkpoint)
    assert json.loads((folder / "config.json").read_text())["label_names"] == ["cat", "dog", "bird"]
    # timm's own loader reads the same repository with the run's preprocessing and class names.
    import timm
    from timm.data import resolve_data_config

    timm_model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert timm_model.pretrained_cfg["label_names"] == ["cat", "dog", "bird"]
    loaded_config = resolve_data_config(model=timm_model)
    assert {key: loaded_config[key] for key in ("interpolation", "crop_pct")} == {
        "interpolation": "bilinear",
        "crop_pct": 0.875,
    }


def test_channels_last_runs_publish_timms_load_checkpoint_model(tagged_run):
    _, args, checkpoint, folder, _ = tagged_run
    assert args.channels_last
    with torch.serialization.safe_globals([type(args)]):
        saved = torch.load(checkpoint, weights_only=True)["state_dict"]["conv1.weight"]
    assert not saved.is_contiguous() and saved.is_contiguous(memory_format=torch.channels_last)
    model = assert_same_as_timm(folder, args, checkpoint)
    assert model.timm_model.conv1.weight.is_contiguous()


def test_the_card_says_whose_weights_these_are(tagged_run):
    _, _, _, folder, _ = tagged_run
    card = ModelCard.load(folder / "README.md")
    assert "base_model" not in card.data.to_dict()  # trained from scratch (args.pretrained false)
    first = card.text.split("## Model Details")[0]
    assert "timm's `resnet18` with the publisher's own weights" in first
    assert "tv_in1k" not in first and "a1_in1k" not in card.text
    assert "**Architecture:** timm `resnet18` (" in card.text
    assert "paper" not in card.text.split("## Citation")[1]  # the pretrained tag's papers are not these weights'
    assert "named by `classes.txt` (the training class map)" in card.text


def test_fine_tuned_from_timms_weights_names_its_base_model(tmp_path):
    args = train_py_args(model="resnet10t.c3_in1k", num_classes=2, pretrained=True)
    train_and_save(create_model_like_train_py(args), args, tmp_path / RUN)
    publish(tmp_path, "architecture=resnet10t", f"weights={RUN}/model_best.pth.tar")
    card = ModelCard.load(tmp_path / "published" / "custom-resnet10t" / "README.md")
    assert card.data.to_dict()["base_model"] == "timm/resnet10t.c3_in1k"
    assert "fine-tuned from timm's pretrained `resnet10t.c3_in1k`" in card.text


def test_bn_eps_runs_of_generator_built_families(tmp_path):
    """`--bn-eps`/`--bn-momentum` are arguments of `timm.create_model` for the generator-built families (not of the
    class): they reach the config (the norm layer's arguments) and the model is exactly the run's."""
    args = train_py_args(model="mobilenetv3_small_050", num_classes=4, bn_eps=1e-3, bn_momentum=0.01)
    checkpoint = train_and_save(create_model_like_train_py(args), args, tmp_path / RUN)
    publish(tmp_path, "architecture=mobilenetv3_small_050", f"weights={RUN}/model_best.pth.tar")
    folder = tmp_path / "published" / "custom-mobilenetv3_small_050"
    model = assert_same_as_timm(folder, args, checkpoint)
    norms = [m for m in model.timm_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    config = json.loads((folder / "config.json").read_text())
    assert config["norm_layer"] == {"__component__": "BatchNorm2d", "eps": 1e-3, "momentum": 0.01}


def test_bf16_runs_keep_their_dtype(tmp_path):
    args = train_py_args(model="resnet10t", num_classes=2, model_dtype="bfloat16")
    checkpoint = train_and_save(create_model_like_train_py(args), args, tmp_path / RUN)
    result = publish(tmp_path, "architecture=resnet10t", f"weights={RUN}/model_best.pth.tar")
    folder = tmp_path / "published" / "custom-resnet10t"
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    assert "published in bfloat16" in result.stdout
    assert "**Weights dtype:** bfloat16 (the checkpoint's own)" in (folder / "README.md").read_text()
    reference, transform, _ = timm_reference(args, checkpoint)
    model, processor = loaded(folder)
    assert model.dtype == torch.bfloat16 and next(reference.parameters()).dtype == torch.bfloat16
    pixels = processor(photo(), return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels, transform(photo()).unsqueeze(0))
    with torch.inference_mode():
        assert torch.equal(model(pixels).logits, reference(pixels.to(torch.bfloat16)))


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK"])
def test_the_processor_converts_images_of_any_mode(tagged_run, mode):
    """Called directly (not through the pipeline, which converts to RGB itself), as timm's loader converts."""
    _, args, checkpoint, folder, _ = tagged_run
    _, transform, _ = timm_reference(args, checkpoint)
    processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
    image = photo(mode)
    pixels = processor(image, return_tensors="pt")["pixel_values"]
    assert torch.equal(pixels, transform(image.convert("RGB")).unsqueeze(0))


def test_random_weights_name_no_pretrained_tag(tmp_path):
    publish(tmp_path, "architecture=resnet10t", "weights=random", "num_labels=3")
    card = ModelCard.load(tmp_path / "published" / "custom-resnet10t" / "README.md")
    first = card.text.split("## Model Details")[0]
    assert "timm's `resnet10t` with untrained" in first
    assert "c3_in1k" not in card.text and "base_model" not in card.data.to_dict()


def test_the_verification_holds_the_processor_to_the_runs_preprocessing(tagged_run, tmp_path):
    """The verification recomputes train.py's data config from the checkpoint's args: a folder whose processor has
    another tag's preprocessing (what the template published before it kept the run's tag) is refused, even when
    the answers themselves carry that wrong data config."""
    import dataclasses
    import shutil

    import timm
    from timm.data import resolve_data_config

    from timm_hub_template.answers import parse
    from timm_hub_template.errors import ExportError
    from timm_hub_template.reference import run_reference
    from timm_hub_template.verify import verify_folder
    from timm_hub_template.weights import load_reference

    root, _, checkpoint, folder, _ = tagged_run
    copy = shutil.copytree(folder, tmp_path / folder.name)
    context = {"architecture": "resnet18", "weights": str(checkpoint.relative_to(root)), "repo_name": folder.name}
    context |= {
        "module_name": "resnet18",
        "class_prefix": "Resnet18",
        "model_type": "custom_resnet18",
        "git_init": "no",
    }
    answers = parse(context, root)
    with torch.device("meta"):
        default_tag = resolve_data_config(model=timm.create_model("resnet18", num_classes=3))
    wrong = {**answers.data_config, "interpolation": default_tag["interpolation"], "crop_pct": default_tag["crop_pct"]}
    assert (wrong["interpolation"], wrong["crop_pct"]) != ("bilinear", 0.875)  # a1_in1k's bicubic/0.95
    config_file = copy / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "pretrained_cfg": {**config["pretrained_cfg"], **wrong}}))
    reference_model = load_reference(answers)
    reference = run_reference(reference_model, answers.data_config["input_size"], answers.torch_dtype)
    with pytest.raises(ExportError, match="image-processor pixels of the saved folder differ"):
        verify_folder(copy, dataclasses.replace(answers, data_config=wrong), reference)
