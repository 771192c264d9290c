"""timm-hub-template: turn any timm architecture into a Hugging Face Hub repository with custom code."""

__version__ = "0.1.0"
