"""The variables parsed once into typed `Answers`, and every new variable's one-line refusals.

`answers.parse` is what the pre-generation hook runs (its error is the line the user sees) and what the export,
the card and publishing take; these tests call it directly with the variables of a cookiecutter run
(`template_variables`).
"""

import argparse
import json
import pathlib

import pytest
import timm
import torch
from helpers.support import template_variables
from safetensors.torch import save_file

from timm_hub_template.answers import AnswerError, Answers, parse
from timm_hub_template.checkpoints import Checkpoint

BASE = template_variables(architecture="resnet18", weights="random", dtype="float32")


def answers(**changes) -> Answers:
    return parse({**BASE, **changes})


def refusal(**changes) -> str:
    with pytest.raises(AnswerError) as error:
        answers(**changes)
    message = str(error.value)
    assert "\n" not in message
    return message


def save_vit(path, **kwargs):
    """A timm ViT checkpoint (safetensors) built with `kwargs`, as a fine-tune of it would be saved."""
    model = timm.create_model("vit_tiny_patch16_224", **kwargs)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(path))
    return path


def save_training_checkpoint(path, model_name, state_dict, ema=True, **args):
    """A checkpoint laid out as timm's CheckpointSaver writes it."""
    contents = {
        "epoch": 3,
        "arch": model_name,
        "state_dict": state_dict,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        "version": 2,
        "args": argparse.Namespace(model=model_name, **args),
        "metric": 71.5,
    }
    if ema:
        contents["state_dict_ema"] = {key: value + 1 for key, value in state_dict.items()}
    torch.save(contents, path)
    return path


def test_defaults_are_typed():
    parsed = answers()
    assert parsed.weights == "random" and parsed.checkpoint is None
    assert parsed.git_init is True and parsed.push_to_hub is False and parsed.private is False
    assert parsed.num_classes is None and parsed.model_args == {}
    assert len(parsed.labels) == 1000 and parsed.labels[0] == "tench, Tinca tinca"
    assert parsed.labels_source == ""  # timm's ImageNet names are the architecture's own
    assert parsed.data_config == {
        "input_size": (3, 224, 224),
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "crop_pct": 0.95,
        "crop_mode": "center",
    }
    assert parsed.data_config_source == ""
    assert parsed.spec.name == "resnet18" and parsed.spec.num_classes == 1000


def test_model_args_change_the_model_and_its_input():
    parsed = answers(architecture="vit_tiny_patch16_224", model_args='{"img_size": 384, "in_chans": 1}')
    fields = {field.name: field.value for field in parsed.spec.fields}
    assert fields["img_size"] == 384 and fields["in_chans"] == 1
    assert parsed.data_config["input_size"] == (1, 384, 384)
    assert len(parsed.data_config["mean"]) == 1  # adapted to one channel as timm's loader does
    assert parsed.data_config["mean"][0] == pytest.approx(sum((0.5, 0.5, 0.5)) / 3)
    assert parsed.data_config_source == "the `model_args`"


@pytest.mark.parametrize(
    ("model_args", "message"),
    [
        ('{"img_sise": 384}', "model_args: 'img_sise' is not an argument of timm's VisionTransformer"),
        ('{"img_size": "large"}', 'model_args: img_size must be a list like [224, 224], not "large"'),
        ('{"depth": 2.5}', "model_args: depth must be an integer like 12, not 2.5"),
        ('{"num_classes": 5}', "model_args cannot set num_classes: use the num_labels or labels variable"),
        ('{"img_size": 384', "model_args must be a JSON object"),
        ("[384]", "model_args must be a JSON object"),
        ('{"in_chans": 2}', "in_chans 2: images have 1 (L), 3 (RGB) or 4 (RGBA) channels"),
        ('{"global_pool": "nope"}', "timm.create_model('vit_tiny_patch16_224', **model_args) fails"),
    ],
)
def test_model_args_are_checked_against_the_constructor(model_args, message):
    assert message in refusal(architecture="vit_tiny_patch16_224", model_args=model_args)


def test_unknown_model_arg_names_the_valid_fields():
    message = refusal(model_args='{"widht": 2}')
    assert "valid: " in message and "stem_width" in message and "block" in message


def test_labels_from_a_list_and_from_files(tmp_path):
    assert answers(labels="cat, dog ,bird").labels == ("cat", "dog", "bird")
    assert answers(labels="cat,dog,bird").num_classes == 3
    text = tmp_path / "classes.txt"
    text.write_text("cat\ndog\n\n")
    assert answers(labels=str(text)).labels == ("cat", "dog")
    listed = tmp_path / "classes.json"
    listed.write_text(json.dumps(["a", "b", "c"]))
    assert answers(labels=str(listed)).labels == ("a", "b", "c")
    mapped = tmp_path / "id2label.json"
    mapped.write_text(json.dumps({"1": "dog", "0": "cat"}))
    parsed = answers(labels=str(mapped))
    assert parsed.labels == ("cat", "dog") and parsed.labels_source == "`id2label.json`"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": "cat,,dog"}, "labels: every class needs a non-empty name"),
        ({"labels": "cat,dog,cat"}, "labels: class names must be unique; repeated: cat"),
        ({"labels": "cat,dog", "num_labels": "3"}, "num_labels is 3 but 2 labels were given"),
        ({"labels": "missing.txt"}, "labels file 'missing.txt' does not exist"),
    ],
)
def test_bad_labels_are_refused(changes, message):
    assert message in refusal(**changes)


def test_label_file_with_gaps_is_refused(tmp_path):
    mapped = tmp_path / "id2label.json"
    mapped.write_text(json.dumps({"0": "cat", "2": "dog"}))
    assert "must map every index from 0 to 1 to a name" in refusal(labels=str(mapped))


def test_data_config_overrides(tmp_path):
    parsed = answers(
        data_config='{"input_size": [3, 160, 128], "interpolation": "bilinear", "crop_pct": 1.0, "mean": [0.5], '
        '"std": [0.5, 0.4, 0.3], "crop_mode": "squash"}'
    )
    assert parsed.data_config == {
        "input_size": (3, 160, 128),
        "interpolation": "bilinear",
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.4, 0.3),
        "crop_pct": 1.0,
        "crop_mode": "squash",
    }
    assert parsed.data_config_source == "the `data_config` variable"


@pytest.mark.parametrize(
    ("data_config", "message"),
    [
        ('{"size": 3}', "data_config: unknown key 'size'; valid: input_size, interpolation"),
        ('{"input_size": [384, 384]}', "input_size must be [channels, height, width]"),
        ('{"input_size": [1, 224, 224]}', "input_size has 1 channels but the model takes 3 (in_chans)"),
        ('{"mean": [0.5, 0.5]}', "data_config: mean needs 1 or 3 values for 3 input channels"),
        ('{"std": [0]}', "std must be positive"),
        ('{"interpolation": "cubic"}', "interpolation must be one of nearest, bilinear, bicubic"),
        ('{"crop_pct": 0}', "crop_pct must be a number in (0, 2]"),
        ('{"crop_mode": "middle"}', "crop_mode must be one of center, squash, border"),
    ],
)
def test_bad_data_config_is_refused(data_config, message):
    assert message in refusal(data_config=data_config)


def test_checkpoint_head_decides_the_head_size(tmp_path):
    checkpoint = save_vit(tmp_path / "five.safetensors", img_size=384, in_chans=1, num_classes=5)
    parsed = answers(
        architecture="vit_tiny_patch16_224", weights=str(checkpoint), model_args='{"img_size": 384, "in_chans": 1}'
    )
    assert parsed.weights == "checkpoint" and parsed.checkpoint.key == ""
    assert parsed.num_classes == 5 and parsed.spec.num_classes == 5 and parsed.labels == ()
    message = refusal(
        architecture="vit_tiny_patch16_224",
        weights=str(checkpoint),
        model_args='{"img_size": 384, "in_chans": 1}',
        labels="a,b,c",
    )
    assert message == "the checkpoint's classifier has 5 classes but 3 labels were given: give one name per class"


def test_training_checkpoint_args_are_the_defaults(tmp_path):
    model = timm.create_model("resnet18", num_classes=4, in_chans=1, global_pool="max")
    class_map = tmp_path / "classes.txt"
    class_map.write_text("w\nx\ny\nz\n")
    path = save_training_checkpoint(
        tmp_path / "model_best.pth.tar",
        "resnet18.a1_in1k",
        model.state_dict(),
        num_classes=4,
        in_chans=1,
        gp="max",
        img_size=160,
        input_size=None,
        mean=[0.4],
        std=[0.2],
        interpolation="",
        crop_pct=0.9,
        class_map=str(class_map),
        data_dir=str(tmp_path),  # train.py reads an absolute class map under its data folder
        bn_eps=None,
        model_kwargs={},
        drop_path=0.05,
    )
    parsed = answers(weights=str(path))
    assert isinstance(parsed.checkpoint, Checkpoint)
    assert parsed.checkpoint.key == "state_dict_ema"  # timm's own choice when the file has EMA weights
    assert parsed.model_args == {"in_chans": 1, "global_pool": "max"}
    assert parsed.num_classes == 4 and parsed.labels == ("w", "x", "y", "z")
    assert parsed.data_config["input_size"] == (1, 160, 160)
    assert parsed.data_config["mean"] == (0.4,) and parsed.data_config["crop_pct"] == 0.9
    assert "drop_path_rate" not in parsed.model_args  # training regularisation, not the model
    # The variables win over the checkpoint's args.
    parsed = answers(weights=str(path), labels="a,b,c,d", data_config='{"crop_pct": 1.0}', checkpoint_key="state_dict")
    assert parsed.checkpoint.key == "state_dict" and parsed.labels == ("a", "b", "c", "d")
    assert parsed.data_config["crop_pct"] == 1.0


def test_training_checkpoint_refusals(tmp_path):
    model = timm.create_model("resnet18")
    other = save_training_checkpoint(tmp_path / "last.pth.tar", "resnet34", model.state_dict(), num_classes=None)
    message = refusal(weights=str(other))
    assert (
        message
        == "checkpoint last.pth.tar was trained as resnet34 (its args.model), not resnet18: use architecture=resnet34"
    )
    plain = save_training_checkpoint(tmp_path / "plain.pth.tar", "resnet18", model.state_dict(), ema=False)
    assert "has no EMA weights (state_dict_ema): use checkpoint_key=state_dict" in refusal(
        weights=str(plain), checkpoint_key="state_dict_ema"
    )
    assert "checkpoint_key 'ema' must be one of auto, state_dict_ema, state_dict" in refusal(checkpoint_key="ema")


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {}, "args": pathlib.PurePosixPath("x")}, path)  # not a Namespace: a class to import
    message = refusal(weights=str(path))
    assert message.startswith(f"cannot read checkpoint {path}: UnpicklingError")


def test_model_args_of_a_fallback_architecture_are_the_class_arguments():
    parsed = answers(architecture="vit_tiny_r_s16_p8_224", model_args='{"img_size": 256}')
    assert not parsed.spec.explicit and parsed.spec.model_args == {"img_size": 256}
    assert parsed.data_config["input_size"] == (3, 256, 256)
    message = refusal(architecture="vit_tiny_r_s16_p8_224", model_args='{"img_sise": 256}')
    assert "'img_sise' is not an argument of timm's VisionTransformer" in message and "embed_layer" in message


def test_dtype_is_auto_or_one_of_three():
    assert answers().dtype == "float32" and answers(dtype="bfloat16").torch_dtype == torch.bfloat16
    assert answers(dtype="auto").dtype == "float32"  # random and pretrained weights: float32
    assert refusal(dtype="fp8") == "dtype must be one of auto, float32, bfloat16, float16, not 'fp8'"
    assert "use dtype=float32 (not bfloat16) with it" in refusal(dtype="bfloat16", onnx="yes")
