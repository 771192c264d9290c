"""`check_folder.py` under another Transformers version, plus the backbone: the compatibility matrix's check.

Usage: python tests/helpers/check_compat.py FOLDER ARCHITECTURE WEIGHTS DATA_CONFIG_JSON [FOLDER ARCHITECTURE ...]
Run with another version's environment (or with another timm first on PYTHONPATH). FOLDER may be a repo id in the
Hugging Face cache (check_folder.py). WEIGHTS: a safetensors file. DATA_CONFIG_JSON: the preprocessing edited into
the folder's config.json.
Prints one JSON line: the versions that ran, the packages of the environment's own, and per architecture
check_folder's measurements, the backbone's feature maps compared with timm's `forward_intermediates`, the loss from
labels, hidden states, and timm's checkpointing through Transformers' method.
"""

import importlib.util
import json
import sys
from importlib.metadata import distributions
from pathlib import Path

import huggingface_hub
import timm
import torch
import transformers
from safetensors.torch import load_file
from transformers.dynamic_module_utils import get_class_from_dynamic_module

# Run as a script, only this folder is on the path: tests/ after it too, for the `helpers` package (last, so that
# another timm first on PYTHONPATH still comes first).
sys.path.append(str(Path(__file__).resolve().parents[1]))

from helpers.check_folder import main as check_folder


def check_backbone(folder: str, architecture: str, weights: str) -> dict:
    """The folder's Backbone at out_indices [1, 2] against timm's intermediates (when the repo has one)."""
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
    if "AutoBackbone" not in config.auto_map:
        return {"backbone": None}
    backbone_class = get_class_from_dynamic_module(config.auto_map["AutoBackbone"], folder)
    backbone = backbone_class.from_pretrained(folder, out_indices=[1, 2]).eval()
    reference = timm.create_model(architecture, pretrained=False, num_classes=config.num_labels)
    state_dict = load_file(weights)
    reference.load_state_dict({key.removeprefix("timm_model."): value for key, value in state_dict.items()})
    reference.eval()
    pixel_values = torch.randn(1, 3, *config_size(reference), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        maps = backbone(pixel_values).feature_maps
        expected = reference.forward_intermediates(pixel_values, [1, 2], intermediates_only=True)
    return {
        "backbone": type(backbone).__name__,
        "backbone_channels": list(backbone.channels),
        "backbone_equal": len(maps) == len(expected) and all(map(torch.equal, maps, expected)),
    }


def check_training(folder: str, architecture: str, weights: str) -> dict:
    """Loss from labels, hidden states, and timm's checkpointing turned on through Transformers' method."""
    model = transformers.AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)
    reference = timm.create_model(architecture, pretrained=False, num_classes=model.config.num_labels)
    state_dict = load_file(weights)
    reference.load_state_dict({key.removeprefix("timm_model."): value for key, value in state_dict.items()})
    reference.eval()
    model.eval()
    pixel_values = torch.randn(2, 3, *config_size(reference), generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([1, 2])
    with torch.no_grad():
        outputs = model(pixel_values, labels=labels, output_hidden_states=True)
        _, intermediates = reference.forward_intermediates(pixel_values)
        # The loss of timm's own logits: single-label cross-entropy, bit for bit.
        expected_loss = torch.nn.functional.cross_entropy(reference(pixel_values), labels)
    # activation_checkpointing_enable from Transformers 5.23; gradient_checkpointing_enable before.
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    model.train()
    model(pixel_values[:1], labels=labels[:1]).loss.backward()
    return {
        "loss_equal": bool(torch.equal(outputs.loss, expected_loss)),
        "hidden_states_equal": len(outputs.hidden_states) == len(intermediates)
        and all(map(torch.equal, outputs.hidden_states, intermediates)),
        "checkpointing": bool(getattr(model.timm_model, "grad_checkpointing", False)),
    }


def config_size(model: torch.nn.Module) -> tuple[int, int]:
    return tuple(timm.data.resolve_data_config(model=model)["input_size"][1:])


def own_packages() -> dict[str, str]:
    """The distributions installed in this environment itself (not linked in from another), name: version."""
    prefix = Path(sys.prefix).resolve()
    return {
        dist.metadata["Name"].lower().replace("_", "-"): dist.version
        for dist in distributions()
        if Path(str(dist.locate_file(""))).resolve().is_relative_to(prefix)
    }


def check(folder: str, architecture: str, weights: str, data_config: str) -> dict:
    try:
        return {
            **check_folder(folder, architecture, weights, "{}", data_config),
            **check_backbone(folder, architecture, weights),
            **check_training(folder, architecture, weights),
        }
    except Exception as error:  # noqa: BLE001 - reported: one architecture failing must not hide the others
        return {"error": f"{type(error).__name__}: {error}"[:2000]}


if __name__ == "__main__":
    arguments = sys.argv[1:]
    report = {
        "transformers": transformers.__version__,
        "huggingface_hub": huggingface_hub.__version__,
        "huggingface_hub_path": huggingface_hub.__file__,
        "kernels_importable": importlib.util.find_spec("kernels") is not None,
        "own_packages": own_packages(),
        "transformers_path": transformers.__file__,
        "timm": timm.__version__,
        "timm_path": timm.__file__,
        "repos": {arguments[i + 1]: check(*arguments[i : i + 4]) for i in range(0, len(arguments), 4)},
    }
    print(json.dumps(report))
