"""Unit tests of the introspection and serialisation, one per kind of value, and the fallback."""

import json
from functools import partial

import pytest
from torch import nn

from timm_hub_template.introspection import (
    ConfigEncoder,
    Kind,
    SourceWriter,
    Unrepresentable,
    describe_class,
    inspect_architecture,
    plain_components,
)
from timm_hub_template.introspection.architecture import _fields
from timm_hub_template.jinja_extension import import_block, pyliteral


def field(spec, name):
    return next(f for f in spec.fields if f.name == name)


def test_plain_json_values_are_fields_as_they_are():
    spec = inspect_architecture("convnext_tiny")
    assert spec.explicit and spec.model_class == "ConvNeXt"
    depths = field(spec, "depths")
    assert (depths.kind, depths.value) == (Kind.PLAIN, (3, 3, 9, 3))
    assert field(spec, "dims").value == (96, 192, 384, 768)
    assert "num_classes" not in {f.name for f in spec.fields} and spec.num_classes == 1000


def test_class_references_become_named_components_with_the_choices_of_the_class():
    spec = inspect_architecture("resnet50d")
    block = field(spec, "block")
    assert (block.kind, block.value) == (Kind.COMPONENT, "Bottleneck")
    # every block an architecture of timm's ResNet uses (resnet18's, skresnet's, resnest's ...)
    assert {"BasicBlock", "Bottleneck", "SelectiveKernelBasic", "ResNestBottleneck"} <= set(block.choices)
    components = dict(spec.components)
    assert components["Bottleneck"] == "Bottleneck" and components["ReLU"] == "nn.ReLU"
    assert ("timm.models.resnet", "Bottleneck", "Bottleneck") in spec.imports
    # COMPONENTS holds bare classes and functions only: arguments are config data
    assert not any("(" in source for _, source in spec.components)


def test_layer_fields_offer_what_timm_factories_resolve_and_none_where_optional():
    spec = inspect_architecture("resnet50d")
    act_layer, norm_layer, aa_layer = (field(spec, name) for name in ("act_layer", "norm_layer", "aa_layer"))
    assert {"ReLU", "relu", "gelu", "silu"} <= set(act_layer.choices)
    assert {"BatchNorm2d", "batchnorm", "groupnorm"} <= set(norm_layer.choices)
    # aa_layer is None in resnet50d, yet the field is a component field taking the class's and create_aa's values
    assert aa_layer.kind is Kind.COMPONENT and aa_layer.value is None
    assert {"AvgPool2d", "BlurPool2d", "blurpc", "avg"} <= set(aa_layer.choices) and aa_layer.choices[-1] is None


def test_partial_arguments_are_config_data():
    b0, tf_b0 = inspect_architecture("efficientnet_b0"), inspect_architecture("tf_efficientnet_b0")
    assert field(b0, "norm_layer").value == "BatchNorm2d"  # a component without arguments is its bare key
    assert field(tf_b0, "norm_layer").value == {"__component__": "BatchNorm2d", "eps": 0.001}  # timm's bn_eps
    assert b0.components == tf_b0.components and b0.imports == tf_b0.imports
    spec = inspect_architecture("mobilenetv3_small_100")
    assert field(spec, "se_layer").value == {
        "__component__": "SqueezeExcite",
        "gate_layer": "hard_sigmoid",
        "force_act_layer": "ReLU",
        "rd_round_fn": "round_channels",
    }
    # components without arguments nested in a block list (the `block_args` override of the generator fields)
    # are written as their bare keys too
    from timm.models._efficientnet_builder import decode_arch_def

    block_args = decode_arch_def([list(stage) for stage in field(spec, "arch_def").value])
    encoded = plain_components(ConfigEncoder().encode(block_args))
    assert encoded[0][0]["act_layer"] == "ReLU"
    assert field(spec, "block_args").kind is Kind.GENERATOR


def test_dataclass_configs_are_tagged_json_with_changed_fields_only():
    spec = inspect_architecture("gernet_s")
    cfg = field(spec, "cfg")
    assert cfg.kind is Kind.STRUCTURE
    assert cfg.value["__dataclass__"] == "ByoModelCfg"
    first_block = cfg.value["blocks"][0]
    assert first_block == {"__dataclass__": "ByoBlockCfg", "type": "basic", "d": 1, "c": 48, "gs": 0}
    assert json.loads(json.dumps(cfg.value))["blocks"][0] == first_block  # survives config.json
    assert {"ByoModelCfg", "ByoBlockCfg"} <= set(dict(spec.components))


def test_partial_arguments_keep_tuples_in_the_config_defaults():
    spec = inspect_architecture("fastvit_sa12")
    assert field(spec, "pos_embs").value[-1] == {"__component__": "RepConditionalPosEnc", "spatial_shape": (7, 7)}


@pytest.mark.parametrize(
    ("architecture", "reason"),
    [
        ("vit_base_r50_s16_224", "argument `embed_layer` holds a ResNetV2 instance"),
        ("repvgg_b1g4", "<lambda>"),
        ("ese_vovnet39b_evos", "norm_act_fn"),
    ],
)
def test_objects_no_config_can_hold_fall_back_to_building_by_name(architecture, reason):
    spec = inspect_architecture(architecture)
    assert not spec.explicit
    assert reason in spec.fallback_reason
    assert spec.fields == () and spec.components == ()


def test_pruned_models_are_marked_for_timm_adaptation():
    assert inspect_architecture("efficientnet_b1_pruned").pruned
    assert not inspect_architecture("efficientnet_b1").pruned


def test_shared_modules_are_listed_for_tying():
    shared = dict(inspect_architecture("coat_tiny").shared)
    assert shared["serial_blocks1.0.cpe.proj.weight"] == "cpe1.proj.weight"
    assert inspect_architecture("resnet50d").shared == ()


def test_source_writer_imports_and_aliases():
    writer = SourceWriter()
    assert writer.source(nn.LayerNorm) == "nn.LayerNorm" and writer.imports == ()  # source() imports nothing
    assert writer.add(nn.LayerNorm) == "nn.LayerNorm" and writer.imports == (("torch", "nn", "nn"),)
    assert writer.import_name("timm.models.vision_transformer", "Block") == "Block"
    assert writer.import_name("timm.models.byobnet", "Block") == "ByobnetBlock"
    with pytest.raises(Unrepresentable, match="not importable"):
        writer.source(lambda x: x)
    with pytest.raises(Unrepresentable, match="Linear instance"):
        ConfigEncoder().encode(nn.Linear(1, 1))
    assert ConfigEncoder().encode(partial(nn.LayerNorm, eps=1e-6)) == {"__component__": "LayerNorm", "eps": 1e-6}


def test_encoder_refuses_reserved_keys_and_non_finite_floats():
    encoder = ConfigEncoder()
    with pytest.raises(Unrepresentable):
        encoder.encode({"__component__": "x"})
    with pytest.raises(Unrepresentable):
        encoder.encode(float("nan"))


def test_pyliteral_writes_lists_as_tuples_with_python_quoting():
    assert pyliteral([1, [2, 3], {"a": [4]}]) == "(1, (2, 3), {'a': (4,)})"
    assert pyliteral('x"; print("INJECTED") #') == repr('x"; print("INJECTED") #')


def test_import_block_groups_like_isort():
    block = import_block(
        (("functools", "partial", "partial"), ("timm.models.byobnet", "ByoModelCfg", "ByoModelCfg")),
        ["torch", "timm.models.byobnet:ByobNet", "timm.models.byobnet:ByoBlockCfg"],
    )
    assert block == (
        "from functools import partial\n\nimport torch\nfrom timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg"
    )


def test_every_architecture_of_a_class_shares_components_and_imports():
    # ResNetV2's default norm_layer is partial(GroupNormAct, num_groups=32); resnetv2_50d_gn passes GroupNormAct.
    gn, bit = inspect_architecture("resnetv2_50d_gn"), inspect_architecture("resnetv2_50x1_bit")
    assert field(gn, "norm_layer").value == "GroupNormAct"
    assert field(bit, "norm_layer").value == {"__component__": "GroupNormAct", "num_groups": 32}
    assert field(gn, "norm_layer").choices == field(bit, "norm_layer").choices
    assert (gn.components, gn.imports, gn.uses_partial) == (bit.components, bit.imports, True)


def test_gradient_checkpointing_is_asked_of_timm_model():
    assert inspect_architecture("resnet50d").supports_gradient_checkpointing


def test_the_class_table_describes_the_installed_timm():
    """timm_classes.json is regenerated (`python -m timm_hub_template.maintenance classes`) when timm changes."""
    import timm

    from timm_hub_template.introspection import class_table

    table = class_table()
    assert table, "timm_classes.json is missing or written for another timm version"
    assert sorted(name for entry in table.values() for name in entry["architectures"]) == sorted(timm.list_models())
    assert len([key for key, entry in table.items() if len(entry["architectures"]) >= 2]) >= 80


def test_components_without_arguments_are_written_as_bare_keys():
    assert plain_components({"__component__": "ReLU"}) == "ReLU"
    nested = [{"act_layer": {"__component__": "ReLU"}, "se": {"__component__": "SqueezeExcite", "gate": "sigmoid"}}]
    assert plain_components(nested) == [
        {"act_layer": "ReLU", "se": {"__component__": "SqueezeExcite", "gate": "sigmoid"}}
    ]
    assert plain_components({"__dataclass__": "ByoModelCfg"}) == {"__dataclass__": "ByoModelCfg"}  # built, not named
    # efficientnet_b0's norm_layer is partial(BatchNorm2d) without arguments: the bare key, as a plain class would be
    assert field(inspect_architecture("efficientnet_b0"), "norm_layer").value == "BatchNorm2d"


class NamesItsActivation:
    """A model class whose nested settings hold the string "ReLU" while its act_layer is the class nn.ReLU."""

    def __init__(self, blocks=None, act_layer=nn.ReLU):
        self.blocks, self.act_layer = blocks, act_layer


def test_a_string_that_is_also_a_component_key_is_not_written_ambiguously():
    kwargs = {"blocks": [{"kind": "ReLU", "depth": 2}], "act_layer": nn.ReLU}
    info, _ = describe_class(NamesItsActivation, [("names_its_activation", kwargs, False)])
    assert info.keys["torch.nn.modules.activation:ReLU"] == "ReLU"
    # resolve() would read the block's "ReLU" as the component: such an architecture falls back to its name
    with pytest.raises(Unrepresentable, match="'ReLU'"):
        _fields(NamesItsActivation, kwargs, ConfigEncoder(info.keys, info.reserved), info)
    kwargs["blocks"] = [{"kind": "basic", "depth": 2}]
    fields = _fields(NamesItsActivation, kwargs, ConfigEncoder(info.keys, info.reserved), info)
    assert [(f.name, f.value) for f in fields] == [("blocks", [{"kind": "basic", "depth": 2}]), ("act_layer", "ReLU")]
