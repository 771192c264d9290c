"""The generated config class documents every argument (timm's own text where timm has one), and a
component without arguments is its bare key in config.json and in the class defaults (the tagged dict still loads)."""

import ast
import inspect
import json
import re
import shutil
from collections import Counter

import pytest
import timm
import torch
from helpers.support import bake
from safetensors.torch import load_file
from transformers import AutoModelForImageClassification

# The config's own arguments besides timm's constructor arguments.
CONFIG_OWN = {"pruned_variant", "architecture", "model_args", "pretrained_cfg", "label_names", "num_classes"}
CONFIG_OWN |= {"out_features", "out_indices"}
ENTRY = re.compile(r"^ {8}(\w+) \((.*)\):$")


@pytest.fixture(
    scope="module",
    params=[
        "resnet50d",
        "efficientnet_b0",
        "convnext_tiny",
        pytest.param("vit_base_patch16_224", marks=pytest.mark.slow),
    ],
)
def generated(request, tmp_path_factory):
    """(architecture, the configuration module's syntax tree, the config class's docstring)."""
    architecture = request.param
    folder = bake(tmp_path_factory.mktemp(architecture), architecture=architecture, weights="random", git_init="no")
    tree = ast.parse((folder / f"configuration_{architecture}.py").read_text())
    config_class = next(node for node in tree.body if isinstance(node, ast.ClassDef))
    return architecture, tree, ast.get_docstring(config_class, clean=False)


def args_entries(docstring):
    """name -> the paragraphs of its entry (lines joined, a line starting "Choices: " opening them)."""
    lines = docstring.splitlines()
    start = lines.index("    Args:")
    entries, current = [], None
    for line in lines[start + 1 :]:
        match = ENTRY.match(line)
        if match:
            current = [match[1], []]
            entries.append(current)
        elif line.startswith(" " * 12) and current is not None:
            text = line.strip()
            if not current[1] or text.startswith(("Choices: ", "* ", "- ")):
                current[1].append(text)
            else:
                current[1][-1] += " " + text
    return entries


def init_arguments(tree):
    init = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    return [arg.arg for arg in init.args.args if arg.arg != "self"]


def timm_class(architecture):
    with torch.device("meta"):
        return type(timm.create_model(architecture, pretrained=False))


def test_every_config_argument_has_exactly_one_args_entry(generated):
    _, tree, docstring = generated
    names = Counter(name for name, _ in args_entries(docstring))
    assert set(names) == set(init_arguments(tree))
    assert set(names.values()) == {1}
    assert all(paragraphs and paragraphs[0] for _, paragraphs in args_entries(docstring))


def test_fields_timm_documents_carry_timms_own_text(generated):
    architecture, _, docstring = generated
    cls = timm_class(architecture)
    # timm's docstrings as one line each, read here with inspect alone.
    timm_docs = [" ".join((inspect.getdoc(obj) or "").split()) for obj in (cls.__init__, cls)]
    documented = 0
    for name, paragraphs in args_entries(docstring):
        if name in CONFIG_OWN:
            continue
        entry = re.compile(rf"(?:^|\s){name}\s*(?:\([^()]*\))?\s*:\s")
        if not any(entry.search(doc) for doc in timm_docs):
            assert len([p for p in paragraphs if not p.startswith("Choices: ")]) == 1, name  # one line of our own
            continue
        documented += 1
        text = " ".join(" ".join(p for p in paragraphs if not p.startswith("Choices: ")).split())
        said = re.compile(rf"(?:^|\s){name}\s*(?:\([^()]*\))?\s*:\s*{re.escape(text)}(?:\s|$)")
        assert any(said.search(doc) for doc in timm_docs), (name, text)
    assert documented >= 15  # ResNet, EfficientNet, ConvNeXt and VisionTransformer document most of their fields


FACTORIES = ("get_act_layer", "get_norm_layer", "get_norm_act_layer")


def made_by(factory, name):
    """The class timm's layer factory makes of a name (its `partial`'s class), or None where it knows none."""
    try:
        made = getattr(timm.layers, factory)(name)
    except Exception:  # noqa: BLE001 - the factories raise what they raise on names they do not know
        return None
    return getattr(made, "func", made)


def spellings_judge(valid):
    """same(a, b): whether two choices of a field name one component. A key (a class of torch.nn or timm.layers
    by its own name) is that class; a lower-case name is what the factory knowing most of the field's names
    makes of it (get_norm_act_layer for EfficientNet's norm_layer, get_act_layer for act_layer ...)."""
    names = [choice for choice in valid if choice.islower()]
    factory = max(FACTORIES, key=lambda f: sum(made_by(f, name) is not None for name in names))

    def meaning(name):
        for module in (torch.nn, timm.layers):
            if isinstance(getattr(module, name, None), type):
                return getattr(module, name)
        return made_by(factory, name) if name.islower() else None

    def same(a, b):
        return a.casefold() == b.casefold() or (meaning(a) is not None and meaning(a) is meaning(b))

    return same


def test_component_choices_are_listed_once_in_one_spelling(generated):
    _, tree, docstring = generated
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").endswith("_CHOICES")
    }
    assert constants  # every one of these classes has component fields
    listed_fields = 0
    for name, paragraphs in args_entries(docstring):
        choices = [p for p in paragraphs if p.startswith("Choices: ")]
        if f"{name.upper()}_CHOICES" not in constants:
            assert not choices, name
            continue
        listed_fields += 1
        (text,) = choices
        listed = [c for c in re.findall(r"'([^']*)'", text.split("(`")[0])]
        valid = [choice for choice in constants[f"{name.upper()}_CHOICES"] if isinstance(choice, str)]
        assert set(listed) <= set(valid), name
        assert Counter(choice.casefold() for choice in listed).most_common(1)[0][1] == 1, (name, listed)
        same_component = spellings_judge(valid)
        for index, choice in enumerate(listed):  # no two spellings of one component
            assert not any(same_component(choice, other) for other in listed[index + 1 :]), (name, choice)
        for choice in set(valid) - set(listed):  # a valid name left out is another spelling of a listed one
            assert any(same_component(choice, other) for other in listed), (name, choice)
    assert listed_fields == len(constants)


# Plain names for plain components.


def tagged_without_arguments(value):
    """The `{"__component__": key}` dicts (no arguments) anywhere in a JSON or literal value."""
    if isinstance(value, dict):
        own = [value] if set(value) == {"__component__"} else []
        return own + [found for item in value.values() for found in tagged_without_arguments(item)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in tagged_without_arguments(item)]
    return []


def with_tags(value, keys):
    """config.json as the template wrote it before: each component key as `{"__component__": key}`."""
    if isinstance(value, dict):
        return {key: item if key == "__component__" else with_tags(item, keys) for key, item in value.items()}
    if isinstance(value, list):
        return [with_tags(item, keys) for item in value]
    return {"__component__": value} if isinstance(value, str) and value in keys else value


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return bake(tmp_path_factory.mktemp("mnv3"), architecture="mobilenetv3_small_100", weights="random", git_init="no")


def timm_logits(architecture, folder, pixels):
    """timm's own model with the folder's weights (timm's parameter names)."""
    model = timm.create_model(architecture, pretrained=False)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    with torch.no_grad():
        return model.eval()(pixels)


def test_components_without_arguments_are_bare_keys(mobilenet):
    config = json.loads((mobilenet / "config.json").read_text())
    assert tagged_without_arguments(config) == []
    assert config["norm_layer"] == "BatchNorm2d"  # timm passes partial(BatchNorm2d) with no arguments
    # components with arguments keep the dict form; those nested in it without arguments are bare keys
    assert config["se_layer"]["__component__"] == "SqueezeExcite" and config["se_layer"]["force_act_layer"] == "ReLU"
    tree = ast.parse((mobilenet / "configuration_mobilenetv3_small_100.py").read_text())
    init = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    constants = [node.value for node in tree.body if isinstance(node, ast.Assign)]
    literals = []
    for node in [*init.args.defaults, *constants]:
        try:
            literals.append(ast.literal_eval(node))
        except ValueError:
            continue  # a name (BLOCK_ARGS), read through its constant
    assert "BatchNorm2d" in literals and tagged_without_arguments(literals) == []


def test_config_json_with_tagged_components_still_loads(mobilenet, tmp_path):
    config = json.loads((mobilenet / "config.json").read_text())
    source = (mobilenet / "modeling_mobilenetv3_small_100.py").read_text()
    keys = set(re.findall(r'^    "([\w.]+)": ', source, re.MULTILINE))  # the modeling file's COMPONENTS
    old = tmp_path / "old-format"
    shutil.copytree(mobilenet, old)
    tagged = {key: with_tags(value, keys) for key, value in config.items() if key != "pretrained_cfg"}
    (old / "config.json").write_text(json.dumps({**config, **tagged}, indent=2))
    assert tagged["norm_layer"] == {"__component__": "BatchNorm2d"}
    assert tagged["se_layer"]["force_act_layer"] == {"__component__": "ReLU"}
    assert tagged["se_layer"]["__component__"] == "SqueezeExcite"
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 224, 224)
    expected = timm_logits("mobilenetv3_small_100", mobilenet, pixels)
    for folder in (mobilenet, old):
        model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
        with torch.no_grad():
            assert torch.equal(model(pixel_values=pixels).logits, expected), folder.name
