"""resnet50d's generated configuration has the guide's explicit fields, and editing them works."""

import ast
import json

import pytest
import timm
import torch
from helpers.support import bake
from transformers import AutoConfig, AutoModelForImageClassification

from timm_hub_template.introspection import inspect_architecture


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return bake(
        tmp_path_factory.mktemp("resnet50d"), architecture="resnet50d", weights="random", repo_name="r50d-edit"
    )


def init_defaults(source: str) -> dict:
    """The keyword defaults of the config class's __init__, read from the generated source."""
    module = ast.parse(source)
    init = next(node for node in ast.walk(module) if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    names = [arg.arg for arg in init.args.args[-len(init.args.defaults) :]]
    return {name: ast.literal_eval(default) for name, default in zip(names, init.args.defaults, strict=True)}


def test_configuration_has_the_explicit_resnet50d_fields(folder):
    defaults = init_defaults((folder / "configuration_resnet50d.py").read_text())
    assert defaults["block"] == "Bottleneck"
    assert defaults["layers"] == (3, 4, 6, 3)
    assert defaults["stem_width"] == 32
    assert defaults["stem_type"] == "deep"
    assert defaults["avg_down"] is True
    assert defaults["cardinality"] == 1 and defaults["base_width"] == 64
    # timm's head size is read only when Transformers' num_labels is not given: no default of its own.
    assert defaults["num_classes"] is None
    config = json.loads((folder / "config.json").read_text())
    assert config["layers"] == [3, 4, 6, 3] and config["stem_type"] == "deep" and config["block"] == "Bottleneck"
    # timm's fields, as timm's save_config_for_hf writes them; no model_type (Transformers infers timm_wrapper).
    assert config["architecture"] == "resnet50d" and config["model_args"] == {} and config["num_classes"] == 1000
    assert len(config["label_names"]) == 1000 and "id2label" not in config
    assert config["pretrained_cfg"]["input_size"] == [3, 224, 224]
    assert "model_type" not in config


def test_modeling_maps_the_block_name_to_timm_class(folder):
    source = (folder / "modeling_resnet50d.py").read_text()
    assert "from timm.models.resnet import BasicBlock, Bottleneck, ResNet" in source
    assert '"Bottleneck": Bottleneck' in source and '"BasicBlock": BasicBlock' in source
    assert "block=component(config.block)" in source
    assert "resnet50d" not in source.replace("Resnet50d", "").replace("_resnet50d", "")  # the class's file


def shapes(model):
    return {key.removeprefix("timm_model."): tuple(value.shape) for key, value in model.state_dict().items()}


def test_editing_layers_builds_the_corresponding_timm_resnet(folder):
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True, layers=[2, 2, 2, 2])
    model = AutoModelForImageClassification.from_config(config, trust_remote_code=True)
    expected = timm.create_model("resnet50d", layers=(2, 2, 2, 2))
    assert shapes(model) == shapes(expected)
    assert shapes(model) != shapes(timm.create_model("resnet50d"))
    assert [len(stage) for stage in (model.timm_model.layer1, model.timm_model.layer4)] == [2, 2]


def test_editing_config_json_changes_the_model(folder, tmp_path, caplog):
    edited = tmp_path / "edited"
    edited.mkdir()
    for path in folder.iterdir():
        if path.suffix in (".py", ".json"):
            (edited / path.name).write_bytes(path.read_bytes())
    config = json.loads((edited / "config.json").read_text())
    config.update(stem_type="", stem_width=64, avg_down=False)  # resnet50d -> resnet50
    (edited / "config.json").write_text(json.dumps(config))
    model = AutoModelForImageClassification.from_config(
        AutoConfig.from_pretrained(edited, trust_remote_code=True), trust_remote_code=True
    )
    assert shapes(model) == shapes(timm.create_model("resnet50"))
    # Its timm fields still say resnet50d: one warning names the fields that no longer match them.
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len([message for message in warnings if "timm fields" in message]) == 1, warnings
    message = next(message for message in warnings if "timm fields" in message)
    assert "stem_width, stem_type, avg_down" in message or all(
        name in message for name in ("stem_width", "stem_type", "avg_down")
    ), message
    assert "layers" not in message and "'resnet50d'" in message


def test_an_unedited_config_warns_nothing_and_saves_timm_fields_unchanged(folder, tmp_path, caplog):
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    config.save_pretrained(tmp_path)
    assert not [record for record in caplog.records if record.levelname == "WARNING"]
    original, saved = (json.loads((path / "config.json").read_text()) for path in (folder, tmp_path))
    for key in ("architecture", "model_args", "num_classes", "label_names", "pretrained_cfg"):
        assert saved[key] == original[key], key
    assert "custom_code_only" not in saved and "model_type" not in saved


def test_a_config_edited_through_its_class_saves_as_custom_code_only(folder, tmp_path, caplog):
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    config.layers = [2, 2, 2, 2]
    config.save_pretrained(tmp_path)
    for path in folder.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    saved = json.loads((tmp_path / "config.json").read_text())
    # No timm field is left that would build resnet50d: timm and TimmWrapper refuse the folder.
    assert not {"architecture", "model_args", "pretrained_cfg", "num_classes", "model_type"} & set(saved)
    assert saved["custom_code_only"] == "explicit fields differ from timm's resnet50d: layers"
    assert any(
        "layers" in record.getMessage() and "only this code" in record.getMessage() for record in caplog.records
    )
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoConfig.from_pretrained(tmp_path)
    with pytest.raises(KeyError):  # timm finds no architecture
        timm.create_model(f"local-dir:{tmp_path}", pretrained=False)
    reloaded = AutoConfig.from_pretrained(tmp_path, trust_remote_code=True)
    assert list(reloaded.layers) == [2, 2, 2, 2] and reloaded.id2label == config.id2label
    # Back to resnet50d's values: timm's fields are written again.
    reloaded.layers = [3, 4, 6, 3]
    reloaded.save_pretrained(tmp_path / "back")
    assert json.loads((tmp_path / "back" / "config.json").read_text())["architecture"] == "resnet50d"


def test_config_refuses_a_block_it_does_not_map(folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    config["block"] = "Nope"
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "configuration_resnet50d.py").write_bytes((folder / "configuration_resnet50d.py").read_bytes())
    with pytest.raises(
        ValueError, match=r"`block` must be one of \('BasicBlock', 'Bottle2neck', 'Bottleneck', .*\), got 'Nope'"
    ):
        AutoConfig.from_pretrained(tmp_path, trust_remote_code=True)


def edited_copy(folder, target, values):
    """The repository's code and config.json, with `values` written into config.json."""
    target.mkdir()
    for path in folder.iterdir():
        if path.suffix in (".py", ".json"):
            (target / path.name).write_bytes(path.read_bytes())
    config = json.loads((target / "config.json").read_text())
    config.update(values)
    (target / "config.json").write_text(json.dumps(config))
    return target


# The Transformers guide's point: one repository, another architecture by its config values alone.
@pytest.mark.parametrize(
    "sibling", ["resnet18", "resnet34d", "seresnet50", "resnetaa50d", "resnetblur50", "resnet50_gn", "skresnet18"]
)
def test_config_json_with_a_siblings_values_builds_exactly_that_model(folder, tmp_path, sibling):
    values = json.loads(json.dumps(inspect_architecture(sibling).config_values))  # as config.json holds them
    edited = edited_copy(folder, tmp_path / sibling, values)
    config = AutoConfig.from_pretrained(edited, trust_remote_code=True)
    with torch.device("meta"):
        model = AutoModelForImageClassification.from_config(config, trust_remote_code=True)
        expected = timm.create_model(sibling)
    assert shapes(model) == shapes(expected)
    assert [type(module) for module in model.timm_model.modules()] == [type(module) for module in expected.modules()]


@pytest.mark.parametrize("sibling", ["resnet18", "resnet34d"])
def test_a_sibling_built_from_the_edited_config_gives_timm_logits(folder, tmp_path, sibling):
    values = json.loads(json.dumps(inspect_architecture(sibling).config_values))
    config = AutoConfig.from_pretrained(edited_copy(folder, tmp_path / sibling, values), trust_remote_code=True)
    model = AutoModelForImageClassification.from_config(config, trust_remote_code=True).eval()
    torch.manual_seed(0)
    expected = timm.create_model(sibling).eval()
    model.timm_model.load_state_dict(expected.state_dict())
    pixel_values = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixel_values).logits, expected(pixel_values))


def test_a_layer_name_field_takes_a_class_and_refuses_unknown_names(folder, tmp_path):
    edited = edited_copy(folder, tmp_path / "blur", {"aa_layer": "BlurPool2d", "norm_layer": "groupnorm"})
    config = AutoConfig.from_pretrained(edited, trust_remote_code=True)
    with torch.device("meta"):
        model = AutoModelForImageClassification.from_config(config, trust_remote_code=True)
    assert type(model.timm_model.layer2[0].aa).__name__ == "BlurPool2d"
    assert type(model.timm_model.layer2[0].bn1).__name__ == "GroupNorm"
    edited = edited_copy(folder, tmp_path / "blurry", {"aa_layer": "blurry"})
    with pytest.raises(ValueError, match=r"`aa_layer` must be one of \(.*'BlurPool2d'.*None\), got 'blurry'"):
        AutoConfig.from_pretrained(edited, trust_remote_code=True)
