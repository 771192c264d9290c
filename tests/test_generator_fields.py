"""The generator-built families (EfficientNet, MobileNetV3) are configured in timm's own
vocabulary, `arch_def` block strings and the multipliers of its `_gen_*` functions, so that a sibling is a few
edited values away, as it is in timm."""

import ast
import inspect
import json
import shutil

import pytest
import timm
import torch
from transformers import AutoConfig, AutoModelForImageClassification

from timm_hub_template import batch
from timm_hub_template.introspection import Kind, capture_constructor_calls, class_architectures, inspect_architecture
from timm_hub_template.introspection.generator_fields import record_generator_calls

# (generated architecture, timm sibling, the config.json values edited to build it)
EDITS = [
    ("efficientnet_b0", "efficientnet_b3", {"channel_multiplier": 1.2, "depth_multiplier": 1.4}),
    ("mobilenetv3_large_100", "mobilenetv3_large_075", {"channel_multiplier": 0.75}),
    ("mnasnet_100", "mnasnet_140", {"channel_multiplier": 1.4}),
    pytest.param("efficientnet_b0", "efficientnet_b1", {"depth_multiplier": 1.1}, marks=pytest.mark.slow),
    pytest.param(
        "efficientnet_lite0",
        "efficientnet_lite2",
        {"channel_multiplier": 1.1, "depth_multiplier": 1.2},
        marks=pytest.mark.slow,
    ),
    pytest.param("mixnet_m", "mixnet_l", {"channel_multiplier": 1.3}, marks=pytest.mark.slow),
    pytest.param("mobilenetv2_100", "mobilenetv2_140", {"channel_multiplier": 1.4}, marks=pytest.mark.slow),
    # timm's head is `max(1280, round_chs_fn(1280))`: the same width at 1.0, not at 0.5
    pytest.param("mobilenetv2_100", "mobilenetv2_050", {"channel_multiplier": 0.5}, marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated folder of an architecture (random weights), made once per module on first use."""
    folders = {}

    def folder(architecture):
        if architecture not in folders:
            out = tmp_path_factory.mktemp(architecture)
            [outcome] = batch.run([architecture], out, weights="random", progress=False, git_init="no")
            assert outcome.ok, outcome.error
            folders[architecture] = outcome.folder
        return folders[architecture]

    return folder


def generator_call(architecture: str) -> dict:
    """The literal arguments timm's entrypoint of `architecture` passes to its `_gen_*` function, bound to the
    generator's parameters: read from timm's source, the reference for what a person would edit."""
    entrypoint = timm.models.model_entrypoint(architecture)
    tree = ast.parse(inspect.getsource(entrypoint))
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("_gen_")
    )
    generator = entrypoint.__globals__[call.func.id]
    literal = (ast.Constant, ast.UnaryOp)
    args = [ast.literal_eval(arg) for arg in call.args if isinstance(arg, literal)]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg and isinstance(k.value, literal)}
    return dict(inspect.signature(generator).bind_partial(*args, **kwargs).arguments)


def state_shapes(module) -> dict:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


@pytest.mark.parametrize(("base", "target", "edits"), EDITS)
def test_a_sibling_is_a_few_generator_values_away(generated, tmp_path, base, target, edits):
    assert 1 <= len(edits) <= 3
    assert edits.items() <= generator_call(target).items(), "edit only what timm's generator call for it says"
    folder = tmp_path / f"edited-{target}"
    shutil.copytree(generated(base), folder, ignore=shutil.ignore_patterns(".git", "*.safetensors"))
    config_path = folder / "config.json"
    values = json.loads(config_path.read_text())
    assert set(edits) <= set(values)
    config_path.write_text(json.dumps({**values, **edits}, indent=2))

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForImageClassification.from_config(config, trust_remote_code=True).eval()
    torch.manual_seed(0)
    reference = timm.create_model(target).eval()
    assert state_shapes(model.timm_model) == state_shapes(reference)
    model.timm_model.load_state_dict(reference.state_dict())
    pixels = torch.randn(2, *reference.pretrained_cfg["input_size"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixels).logits, reference(pixels))


def test_efficientnet_b0_config_is_short_and_in_timms_vocabulary(generated):
    folder = generated("efficientnet_b0")
    lines = (folder / "config.json").read_text().splitlines()
    values = json.loads("\n".join(lines))
    # the label names take one line each, between the key's line and the closing bracket
    start = next(index for index, line in enumerate(lines) if line.startswith('  "label_names": ['))
    assert lines[start + len(values["label_names"]) + 1].strip() in ("]", "],")
    assert len(lines) - (len(values["label_names"]) + 2) < 120
    # the block strings of timm's `_gen_efficientnet`, and the values of its call for efficientnet_b0
    source = inspect.getsource(timm.models.efficientnet._gen_efficientnet)
    assert all(f"'{block}'" in source for stage in values["arch_def"] for block in stage)
    assert [len(stage) for stage in values["arch_def"]] == [1] * 7
    call = generator_call("efficientnet_b0")
    assert values["channel_multiplier"] == call["channel_multiplier"]
    assert values["depth_multiplier"] == call["depth_multiplier"]
    assert values["num_features"] == 1280 and values["num_features_rounding"] == "round"
    assert values["block_args"] is None
    assert "round_chs_fn" not in values


def test_modeling_file_decodes_with_timms_builders(generated):
    source = (generated("efficientnet_b0") / "modeling_efficientnet_b0.py").read_text()
    assert "from timm.models._efficientnet_builder import decode_arch_def, round_channels" in source
    tree = ast.parse(source)
    called = {
        node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert {"decode_arch_def", "partial"} <= called


@pytest.mark.parametrize(
    "architecture",
    [
        "efficientnet_b0",
        "tf_efficientnet_b0",
        "efficientnet_lite0",
        "efficientnet_h_b5",
        "efficientnet_x_b3",
        "efficientnetv2_rw_t",
        "efficientnet_cc_b0_4e",
        "mixnet_s",
        "mnasnet_small",
        "fbnetc_100",
        "spnasnet_100",
        "tinynet_e",
        "mobilenetv2_050",
        "mobilenetv3_small_050",
        "tf_mobilenetv3_large_minimal_100",
        "lcnet_050",
        "fbnetv3_b",
        "mobilenetv4_conv_small",
        "mobilenetv4_hybrid_medium",
        "hardcorenas_a",
    ],
)
def test_generator_fields_rebuild_timms_constructor_arguments(architecture):
    """The recorded description, decoded by timm's builders, gives exactly the arguments timm's constructor got."""
    from timm.models._efficientnet_builder import decode_arch_def, round_channels

    with capture_constructor_calls() as capture, record_generator_calls(architecture), torch.device("meta"):
        timm.create_model(architecture)
    spec = inspect_architecture(architecture)
    values = {field.name: field.value for field in spec.fields if field.kind is Kind.GENERATOR}
    assert spec.generator_arguments and values["arch_def"] is not None, "compact form expected"
    decoded = decode_arch_def(
        [list(stage) for stage in values["arch_def"]],
        values["depth_multiplier"],
        depth_trunc=values["depth_trunc"],
        experts_multiplier=values["experts_multiplier"],
        fix_first_last=values["fix_first_last"],
        group_size=values["group_size"],
    )
    assert decoded == capture.kwargs["block_args"]
    settings = {
        "multiplier": values["channel_multiplier"],
        "divisor": values["channel_divisor"],
        "channel_min": values["channel_min"],
        "round_limit": values["round_limit"],
    }
    default = inspect.signature(capture.model_cls).parameters["round_chs_fn"].default
    round_chs_fn = capture.kwargs.get("round_chs_fn", default)
    for channels in (8, 16, 24, 40, 112, 320, 1280):
        assert round_channels(channels, **settings) == round_chs_fn(channels)


@pytest.mark.slow
def test_every_architecture_of_the_families_is_compact():
    """Every architecture of the classes timm builds from block strings has the same generator fields (one modeling
    file per class), and its block strings rebuild timm's blocks: none needs the `block_args` override."""
    classes = [
        "timm.models.efficientnet:EfficientNet",
        "timm.models.mobilenetv3:MobileNetV3",
        "timm.models.mobilenetv5:MobileNetV5",
        "timm.models.mobilenetv5:MobileNetV5Encoder",
    ]
    expanded = []
    for key in classes:
        names = set()
        for architecture in class_architectures(key):
            spec = inspect_architecture(architecture)
            values = {field.name: field.value for field in spec.fields if field.kind is Kind.GENERATOR}
            names.add(tuple(values))
            if values["arch_def"] is None:
                expanded.append(architecture)
        assert len(names) == 1, key
    assert sum(len(class_architectures(key)) for key in classes) == 157
    assert expanded == []


def test_model_args_name_what_timms_function_takes():
    """Generator fields are config values, not `model_args`: timm's function for efficientnet_b0 sets
    `channel_multiplier` itself, so the variable refuses it by name, as before; `bn_eps` it takes."""
    from test_answers import answers, refusal

    message = refusal(architecture="efficientnet_b0", model_args='{"channel_multiplier": 1.2}')
    assert "model_args: 'channel_multiplier' is not an argument of timm's EfficientNet" in message
    assert answers(architecture="efficientnet_b0", model_args='{"bn_eps": 0.001}').model_args == {"bn_eps": 0.001}


def test_block_args_override_the_block_strings(generated, tmp_path):
    """`block_args` (timm's decoded blocks, components tagged) build the model instead of `arch_def`."""
    from timm.models._efficientnet_builder import decode_arch_def

    from timm_hub_template.introspection import ConfigEncoder

    folder = tmp_path / "override"
    shutil.copytree(generated("efficientnet_b0"), folder, ignore=shutil.ignore_patterns(".git", "*.safetensors"))
    values = json.loads((folder / "config.json").read_text())
    # efficientnet_b1's blocks, as decoded from the block strings of timm's `_gen_efficientnet` with its depth
    blocks = decode_arch_def([list(stage) for stage in values["arch_def"]], 1.1)
    values.update(arch_def=None, block_args=ConfigEncoder().encode(blocks))
    (folder / "config.json").write_text(json.dumps(values, indent=2))
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForImageClassification.from_config(config, trust_remote_code=True).eval()
    torch.manual_seed(0)
    reference = timm.create_model("efficientnet_b1").eval()
    assert state_shapes(model.timm_model) == state_shapes(reference)
    model.timm_model.load_state_dict(reference.state_dict())
    pixels = torch.randn(1, 3, 240, 240, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixels).logits, reference(pixels))
