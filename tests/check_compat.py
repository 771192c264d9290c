"""`check_folder.py` under another Transformers version, plus the backbone: the compatibility matrix's check.

Usage: python check_compat.py FOLDER ARCHITECTURE WEIGHTS.safetensors
Run with a folder holding another Transformers version first on PYTHONPATH. Prints one JSON line: check_folder's
measurements, the versions that ran, and the backbone's feature maps compared with timm's `forward_intermediates`.
"""

import json
import sys

import huggingface_hub
import timm
import torch
import transformers
from check_folder import main as check_folder
from safetensors.torch import load_file
from transformers.dynamic_module_utils import get_class_from_dynamic_module


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


def config_size(model: torch.nn.Module) -> tuple[int, int]:
    return tuple(timm.data.resolve_data_config(model=model)["input_size"][1:])


if __name__ == "__main__":
    folder, architecture, weights = sys.argv[1:4]
    report = {
        "transformers": transformers.__version__,
        "huggingface_hub": huggingface_hub.__version__,
        "transformers_path": transformers.__file__,
        "timm": timm.__version__,
        **check_folder(folder, architecture, weights),
        **check_backbone(folder, architecture, weights),
    }
    print(json.dumps(report))
