"""Bake the template for five architectures with a local checkpoint, then load the folder as users do."""

import json
import os
from pathlib import Path

import pytest
import timm
from helpers.support import bake, check_folder, save_timm_checkpoint

from timm_hub_template.formatting import ruff_problems

ARCHITECTURES = ["resnet50d", "vit_base_patch16_224", "convnext_tiny", "efficientnet_b0", "mobilenetv3_small_100"]
PREFIXES = {
    "resnet50d": "Resnet50d",
    "vit_base_patch16_224": "VitBasePatch16224",
    "convnext_tiny": "ConvnextTiny",
    "efficientnet_b0": "EfficientnetB0",
    "mobilenetv3_small_100": "Mobilenetv3Small100",
}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[] if name == "mobilenetv3_small_100" else [pytest.mark.slow])
        for name in ARCHITECTURES
    ],
)
def baked(request, tmp_path_factory):
    """(architecture, folder, report): the folder baked from a timm checkpoint file, checked in a fresh process."""
    architecture = request.param
    work = tmp_path_factory.mktemp(architecture)
    weights = save_timm_checkpoint(architecture, work / "weights.safetensors")
    folder = bake(work / "out", architecture=architecture, weights=str(weights))
    return architecture, folder, check_folder(folder, architecture, weights)


def test_folder_holds_the_hub_files(baked):
    architecture, folder, _ = baked
    module = architecture
    expected = {
        ".git",  # git_init is on by default
        ".gitattributes",
        "README.md",
        "config.json",
        "model.safetensors",
        f"configuration_{module}.py",
        f"modeling_{module}.py",
        f"image_processing_{module}.py",
        "requirements.txt",  # what Inference Endpoints' container installs: timm
    }
    assert folder.name == f"custom-{architecture}"
    assert {path.name for path in folder.iterdir()} == expected
    # Transformers saves the weights as 0600; they get the umask's mode like every other file.
    modes = {path.name: path.stat().st_mode & 0o777 for path in folder.iterdir() if path.is_file()}
    assert set(modes.values()) == {0o666 & ~current_umask()}, modes


def current_umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_auto_classes_load_the_generated_classes(baked):
    architecture, _, report = baked
    prefix = PREFIXES[architecture]
    assert report["config_class"] == f"{prefix}Config"
    assert report["model_class"] == f"{prefix}Model"
    assert report["classifier_class"] == f"{prefix}ForImageClassification"
    assert report["processor_class"] == f"{prefix}ImageProcessor"


def test_logits_equal_timm(baked):
    _, _, report = baked
    print(f"logits max abs diff: {report['logits_max_abs_diff']}")
    assert report["logits_max_abs_diff"] == 0.0
    assert report["logits_equal"]


def test_pooled_output_equals_timm_pre_logits(baked):
    _, _, report = baked
    print(f"pooled max abs diff: {report['pooled_max_abs_diff']}")
    assert report["pooled_max_abs_diff"] == 0.0
    assert report["pooled_equal"]


def test_image_processor_equals_timm_eval_transform(baked):
    _, _, report = baked
    assert report["pixels_equal"]


def test_pipeline_top_label_is_the_logits_argmax(baked):
    _, _, report = baked
    assert report["feature_pipeline_equal"]  # the feature-extraction pipeline too, with the repository's code
    assert report["num_labels"] == 1000
    assert report["pipeline_label"] == report["argmax_label"]
    # ImageNet's names, as timm's ImageNetInfo gives them, in index order.
    names = timm.data.ImageNetInfo().label_descriptions()
    assert report["argmax_label"] == names[report["argmax_index"]]


def test_config_names_the_imagenet_classes_in_timms_order(baked):
    _, folder, _ = baked
    label_names = json.loads((Path(folder) / "config.json").read_text())["label_names"]
    assert label_names == timm.data.ImageNetInfo().label_descriptions()


def test_custom_code_loads_without_a_model_type_warning(baked):
    _, _, report = baked
    assert not [message for message in report["warnings"] if "model of type" in message], report["warnings"]


def test_loads_without_remote_code_as_timm_wrapper(baked):
    """No trust_remote_code: the Auto classes and both pipelines take Transformers' TimmWrapper, exactly."""
    _, _, report = baked
    wrapper = report["timm_wrapper"]
    assert wrapper["config_class"] == "TimmWrapperConfig"
    assert wrapper["model_class"] == "TimmWrapperModel"
    assert wrapper["classifier_class"] == "TimmWrapperForImageClassification"
    assert wrapper["processor_class"] == "TimmWrapperImageProcessor"
    assert wrapper["logits_equal"] and wrapper["pooled_equal"] and wrapper["pixels_equal"]
    assert wrapper["feature_pipeline_equal"]
    assert wrapper["pipeline_label"] == wrapper["argmax_label"] == report["argmax_label"]
    assert wrapper["labels"] == report["labels"]
    assert not [w for w in wrapper["warnings"] if "custom code" in w or "model of type" in w], wrapper["warnings"]


def test_loads_in_timm_from_the_folder(baked):
    """timm.create_model("local-dir:<folder>", pretrained=True): the same model, weights, data config and labels."""
    architecture, _, report = baked
    loaded = report["timm"]
    assert loaded["model_class"] == type_name_in_timm(architecture)
    assert loaded["logits_equal"] and loaded["data_config_equal"] and loaded["pixels_equal"]
    assert loaded["labels"] == report["labels"]


def type_name_in_timm(architecture):
    import timm

    with __import__("torch").device("meta"):
        return type(timm.create_model(architecture)).__name__


def test_generated_python_is_ruff_clean(baked):
    _, folder, _ = baked
    assert len(list(Path(folder).glob("*.py"))) == 3
    assert ruff_problems(Path(folder)) == []


def test_ruff_problems_reports_lint_and_format_findings(tmp_path):
    (tmp_path / "unused.py").write_text("import os\n")
    (tmp_path / "unformatted.py").write_text("x = ( 1 )\n")
    problems = ruff_problems(tmp_path)
    assert any("F401" in problem and "unused.py" in problem for problem in problems), problems
    assert any("unformatted.py" in problem for problem in problems), problems
    (tmp_path / "unused.py").write_text("import os\n\nprint(os.sep)\n")
    (tmp_path / "unformatted.py").write_text("x = 1\n")
    assert ruff_problems(tmp_path) == []
