"""Names derived from a timm architecture: repo folder, Python module, class prefix and model type.

Pure string functions, so cookiecutter can show the defaults at its prompts without importing torch.
"""

import re


def architecture_name(architecture: str) -> str:
    """`resnet50d.ra2_in1k` -> `resnet50d` (timm separates the pretrained tag with the first dot)."""
    return architecture.strip().split(".", 1)[0]


def module_name(architecture: str) -> str:
    """A Python module name: `vit_base_patch16_224`, `resnet50d`."""
    name = re.sub(r"\W+", "_", architecture_name(architecture).lower()).strip("_")
    return name if name[:1].isalpha() else f"model_{name}"


def class_prefix(module: str) -> str:
    """`vit_base_patch16_224` -> `VitBasePatch16224`."""
    return "".join(part[:1].upper() + part[1:] for part in module.split("_") if part)


def repo_name(architecture: str) -> str:
    """The output folder and Hub repository name, as in the Transformers guide's `custom-resnet50d`."""
    return f"custom-{architecture_name(architecture)}"
