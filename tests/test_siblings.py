"""The config decides the model. One modeling file per timm class, and a repository of one architecture
builds its siblings (other architectures of the same timm class) from config values alone."""

import ast

import pytest

from timm_hub_template.introspection import class_architectures, inspect_architecture
from timm_hub_template.maintenance.siblings import reach_class, render_code
from timm_hub_template.names import class_prefix, module_name

# A sample of classes: (architecture whose names the renders share, other architectures of the same class)
SAMPLE = {
    "ResNet": ("resnet50d", ["resnet18", "seresnet50", "skresnet18", "resnest14d", "resnetblur50", "resnet50_gn"]),
    "EfficientNet": ("efficientnet_b0", ["efficientnet_b3", "tf_efficientnet_b0", "efficientnet_b1_pruned"]),
    "VisionTransformer": (
        "vit_tiny_patch16_224",
        ["vit_small_patch16_224", "deit_tiny_patch16_224", "vit_base_patch16_siglip_224"],
    ),
    "ConvNeXt": ("convnext_atto", ["convnext_tiny", "convnextv2_atto"]),
    "MobileNetV3": ("mobilenetv3_small_100", ["mobilenetv3_large_100", "tf_mobilenetv3_small_minimal_100"]),
    "ByobNet": ("gernet_s", ["resnet51q", "repvgg_a0", "resnet50_clip"]),
}


def init_parameters(source: str) -> list[str]:
    module = ast.parse(source)
    init = next(node for node in ast.walk(module) if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    return [arg.arg for arg in init.args.args]


@pytest.mark.parametrize("model_class", sorted(SAMPLE))
def test_one_modeling_file_per_timm_class(tmp_path, model_class):
    base, others = SAMPLE[model_class]
    names = {"module_name": module_name(base), "class_prefix": class_prefix(module_name(base))}
    module = names["module_name"]
    folder = render_code(base, tmp_path / "base")
    assert inspect_architecture(base).model_class == model_class
    for index, other in enumerate(others):
        assert inspect_architecture(other).model_class == model_class, other
        assert other in class_architectures(inspect_architecture(other).model_module + ":" + model_class)
        rendered = render_code(other, tmp_path / other, {**names, "repo_name": f"r{index}"})
        assert (rendered / f"modeling_{module}.py").read_text() == (folder / f"modeling_{module}.py").read_text()
        # the configuration differs in defaults only: the same fields, the same choices
        config, base_config = (path / f"configuration_{module}.py" for path in (rendered, folder))
        assert init_parameters(config.read_text()) == init_parameters(base_config.read_text())
        choices = [line for line in config.read_text().splitlines() if "_CHOICES = " in line]
        assert choices == [line for line in base_config.read_text().splitlines() if "_CHOICES = " in line]


@pytest.mark.slow
def test_sibling_reach_of_a_class_is_reported_with_reasons():
    result = reach_class("timm.models.convnext:ConvNeXt", logits=1, same_code=False)
    assert result.base == class_architectures("timm.models.convnext:ConvNeXt")[0]
    assert len(result.siblings) == len(class_architectures("timm.models.convnext:ConvNeXt")) - 1
    assert all(reach.reached for reach in result.siblings), [r for r in result.siblings if not r.reached][:3]
    assert sum(reach.logits for reach in result.siblings) == 1


@pytest.mark.parametrize(("architecture", "supported"), [("resnet18", True), ("dla34", False)])
def test_gradient_checkpointing_is_claimed_only_where_timm_supports_it(tmp_path, architecture, supported):
    import torch

    from timm_hub_template.export import import_generated_package

    module = module_name(architecture)
    package = import_generated_package(render_code(architecture, tmp_path / "code"), tmp_path, module)
    config = getattr(package[f"configuration_{module}"], f"{class_prefix(module)}Config")()
    with torch.device("meta"):
        model = getattr(package[f"modeling_{module}"], f"{class_prefix(module)}ForImageClassification")(config)
    assert model.supports_gradient_checkpointing is supported
    assert inspect_architecture(architecture).supports_gradient_checkpointing is supported
    if not supported:
        with pytest.raises(ValueError, match="does not support"):
            model.activation_checkpointing_enable()
