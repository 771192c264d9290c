"""The verification refuses a folder that is not timm's model, for each check it makes.

One folder is generated (random weights), then each test hands `verify_folder` a copy with one thing broken: a
weight one float step away (no tolerance), a weight of the head only, a missing or an extra tensor, a tensor of
another shape, a changed `crop_pct`, a shifted label map. The reference it compares with is built here from timm
(`torch.manual_seed(0); timm.create_model(...)`, README: "timm's initialisation with seed 0"), not by the product.
"""

import json
import shutil

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from timm_hub_template import batch
from timm_hub_template.errors import ExportError
from timm_hub_template.reference import Reference
from timm_hub_template.verify import LoaderError, verify_folder

ARCHITECTURE = "mobilenetv3_small_050"
HEAD = "classifier.weight"
STEM = "conv_stem.weight"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(folder, answers) of one generation with random weights."""
    out = tmp_path_factory.mktemp("verified")
    folder = batch.generate(ARCHITECTURE, out, weights="random", git_init="no")
    answers = batch.parse_answers(batch.render_context({"architecture": ARCHITECTURE, "weights": "random"}, out))
    return folder, answers


@pytest.fixture(scope="module")
def reference():
    """timm's outputs with the promised random weights, computed here from timm alone."""
    torch.manual_seed(0)
    model = timm.create_model(ARCHITECTURE).eval()
    pixel_values = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        logits = model(pixel_values)
        pre_logits = model.forward_head(model.forward_features(pixel_values), pre_logits=True)
    return Reference(pixel_values, logits, pre_logits)


@pytest.fixture
def copy(generated, tmp_path):
    folder, _ = generated
    return shutil.copytree(folder, tmp_path / folder.name)


def rewrite_weights(folder, change):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})


def one_step_up(tensors, key, count=1):
    """The first `count` elements of `key` moved to the next float32 value: the smallest change a weight can have."""
    tensor = tensors[key].clone()
    flat = tensor.view(-1)
    flat[:count] = torch.nextafter(flat[:count], torch.tensor(float("inf")))
    tensors[key] = tensor


def test_the_untouched_folder_passes(generated, reference, copy):
    _, answers = generated
    assert verify_folder(copy, answers, reference) == ["logits", "pooled features", "processor pixels"]


def test_a_reference_of_another_seed_is_refused(generated, reference, copy):
    """The verification's reference is what the folder must equal: timm's seed 1 is not the folder's seed 0."""
    _, answers = generated
    torch.manual_seed(1)
    other = timm.create_model(ARCHITECTURE).eval()
    with torch.inference_mode():
        logits = other(reference.pixel_values)
        pre_logits = other.forward_head(other.forward_features(reference.pixel_values), pre_logits=True)
    with pytest.raises(ExportError, match="pooled features of the saved folder differ"):
        verify_folder(copy, answers, Reference(reference.pixel_values, logits, pre_logits))


def test_a_backbone_weight_one_float_step_away_is_refused(generated, reference, copy):
    _, answers = generated
    rewrite_weights(copy, lambda tensors: one_step_up(tensors, STEM))
    with pytest.raises(ExportError, match="pooled features of the saved folder differ from timm's"):
        verify_folder(copy, answers, reference)


def test_a_head_weight_one_float_step_away_is_refused(generated, reference, copy):
    """The pooled features are still equal: only the logits check sees the head (class 0's row, one step each:
    a single element may meet a pooled feature that is zero)."""
    _, answers = generated
    rewrite_weights(copy, lambda tensors: one_step_up(tensors, HEAD, count=tensors[HEAD].shape[1]))
    with pytest.raises(ExportError, match="logits of the saved folder differ from timm's"):
        verify_folder(copy, answers, reference)


def test_a_missing_tensor_is_refused(generated, reference, copy):
    _, answers = generated
    rewrite_weights(copy, lambda tensors: tensors.pop("bn1.running_var"))
    with pytest.raises(ExportError, match="did not load the saved weights as they are.*missing_keys"):
        verify_folder(copy, answers, reference)


def test_a_missing_head_tensor_is_refused(generated, reference, copy):
    """The features model has no head: the classifier's load is what finds it missing."""
    _, answers = generated
    rewrite_weights(copy, lambda tensors: tensors.pop("classifier.bias"))
    with pytest.raises(ExportError, match="AutoModelForImageClassification did not load.*missing_keys"):
        verify_folder(copy, answers, reference)


def test_an_extra_tensor_is_refused(generated, reference, copy):
    _, answers = generated
    rewrite_weights(copy, lambda tensors: tensors.update({"extra": torch.zeros(3)}))
    with pytest.raises(ExportError, match="did not load the saved weights as they are.*unexpected_keys"):
        verify_folder(copy, answers, reference)


def test_a_tensor_of_another_shape_is_refused(generated, reference, copy):
    _, answers = generated
    rewrite_weights(copy, lambda tensors: tensors.update({HEAD: tensors[HEAD][:, :-1].contiguous()}))
    with pytest.raises((ExportError, RuntimeError)):
        verify_folder(copy, answers, reference)


def test_a_changed_crop_pct_is_refused(generated, reference, copy):
    _, answers = generated
    path = copy / "config.json"
    config = json.loads(path.read_text())
    assert config["pretrained_cfg"]["crop_pct"] == timm.create_model(ARCHITECTURE).pretrained_cfg["crop_pct"]
    config["pretrained_cfg"]["crop_pct"] = 0.9
    path.write_text(json.dumps(config))
    with pytest.raises(LoaderError) as refused:
        verify_folder(copy, answers, reference)
    # Every loader reads the one copy: each of them gives other pixels.
    failures = refused.value.failures
    assert "image-processor pixels of the saved folder differ from timm's" in failures["custom code"]
    assert "TimmWrapper's image-processor pixels differ" in failures["TimmWrapper"]
    assert "data config's pixels differ" in failures["timm"]


def test_a_second_copy_of_the_preprocessing_is_refused(generated, reference, copy):
    """A preprocessor_config.json (an earlier generation's) is what Transformers 5.25 reads by repo id instead of
    config.json's `pretrained_cfg`: the folder is refused, whatever the copy says."""
    _, answers = generated
    pretrained_cfg = json.loads((copy / "config.json").read_text())["pretrained_cfg"]
    (copy / "preprocessor_config.json").write_text(json.dumps({"pretrained_cfg": pretrained_cfg}))
    with pytest.raises(ExportError, match="preprocessor_config.json.*delete it"):
        verify_folder(copy, answers, reference)


def test_a_shifted_label_map_is_refused(generated, reference, copy):
    _, answers = generated
    path = copy / "config.json"
    config = json.loads(path.read_text())
    names = timm.data.ImageNetInfo().label_descriptions()
    assert config["label_names"] == names  # ImageNet's names, in timm's order (timm's field; id2label once loaded)
    config["label_names"] = names[1:] + names[:1]
    path.write_text(json.dumps(config))
    with pytest.raises(ExportError, match="label"):
        verify_folder(copy, answers, reference)


# timm's way is first checked without timm's random initialisation and second copy (`timm_model_of_folder`);
# timm's own loader decides whenever that model differs. Each broken folder is refused by timm's way too.
BROKEN_WEIGHTS = {
    "a backbone weight one float step away": lambda tensors: one_step_up(tensors, STEM),
    "a head weight one float step away": lambda tensors: one_step_up(tensors, HEAD, count=tensors[HEAD].shape[1]),
    "a missing tensor": lambda tensors: tensors.pop("bn1.running_var"),
    "an extra tensor": lambda tensors: tensors.update({"extra": torch.zeros(3)}),
    "a tensor of another shape": lambda tensors: tensors.update({HEAD: tensors[HEAD][:, :-1].contiguous()}),
}


@pytest.mark.parametrize("broken", BROKEN_WEIGHTS)
def test_timms_way_refuses_each_broken_weights_file(generated, reference, copy, broken):
    _, answers = generated
    rewrite_weights(copy, BROKEN_WEIGHTS[broken])
    with pytest.raises(LoaderError) as refused:
        verify_folder(copy, answers, reference)
    assert "timm" in refused.value.failures


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_classes", 999), ("label_offset", 1)],
    ids=["a head size other than the model's", "a label offset"],
)
def test_timms_way_refuses_a_config_its_loader_would_change_the_head_for(generated, reference, copy, field, value):
    """timm's `load_pretrained` drops a head whose size is not `pretrained_cfg`'s (the model keeps a random one) and
    slices a label offset off it: the weights as they are in the file are not what timm's users get."""
    _, answers = generated
    path = copy / "config.json"
    config = json.loads(path.read_text())
    if field == "num_classes":  # pretrained_cfg's head size; model_args keep the model's (the file's) head
        config["model_args"]["num_classes"] = config["num_classes"]
        config["num_classes"] = value
    else:
        config["pretrained_cfg"][field] = value
    path.write_text(json.dumps(config))
    with pytest.raises(LoaderError) as refused:
        verify_folder(copy, answers, reference)
    assert "timm" in refused.value.failures


def test_timms_own_loader_decides_where_the_quick_build_differs(generated, reference, copy):
    """Weights saved under DataParallel's `module.` names: timm's loader strips the prefix (its clean_state_dict)
    and loads them, the Transformers classes do not. The quick build (a strict load of the names as they are)
    fails, so timm's own loader decides: timm's way passes."""
    _, answers = generated
    rewrite_weights(copy, lambda tensors: tensors.update({f"module.{key}": tensors.pop(key) for key in list(tensors)}))
    with pytest.raises(LoaderError) as refused:
        verify_folder(copy, answers, reference)
    assert set(refused.value.failures) == {"custom code", "TimmWrapper"}


def test_the_quick_build_is_timms_own_load_of_the_folder(generated, copy):
    """What timm's way checks first equals `timm.create_model("local-dir:<folder>", pretrained=True)`: every
    parameter and buffer (the non-persistent ones too), the pretrained_cfg and the class."""
    from timm_hub_template.verify import timm_model_of_folder

    _, answers = generated
    quick = timm_model_of_folder(copy, answers)
    timms = timm.create_model(f"local-dir:{copy}", pretrained=True).eval()
    assert type(quick) is type(timms)
    assert quick.pretrained_cfg == timms.pretrained_cfg
    for ours, theirs in (
        (quick.named_parameters(), timms.named_parameters()),
        (quick.named_buffers(), timms.named_buffers()),
    ):
        ours, theirs = dict(ours), dict(theirs)
        assert ours.keys() == theirs.keys()
        for name, tensor in theirs.items():
            assert torch.equal(ours[name], tensor), name
