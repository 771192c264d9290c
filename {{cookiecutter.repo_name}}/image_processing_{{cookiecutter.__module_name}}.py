{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set image_mode = answers.data_config.input_size[0] | image_mode -%}
"""Image processor of {{ cookiecutter.__class_prefix }} models: timm's eval transform."""

import os

import timm
import torch
from transformers.dynamic_module_utils import custom_object_save
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_transforms import to_pil_image
from transformers.image_utils import make_flat_list_of_images

from .configuration_{{ cookiecutter.__module_name }} import PRETRAINED_CFG


class {{ cookiecutter.__class_prefix }}ImageProcessor(BaseImageProcessor):
    """Resizes, crops and normalises images exactly as timm evaluates them.

    The preprocessing is config.json's `pretrained_cfg`, read as timm reads it
    (`timm.data.resolve_data_config`, then `timm.data.create_transform`), and as
    Transformers' TimmWrapper processor reads it: there is no other copy. As generated:
    input size {{ answers.data_config.input_size | pyliteral }}, {{ answers.data_config.interpolation }} interpolation, crop_pct {{ answers.data_config.crop_pct }}.
    Images of any mode are converted to {{ image_mode }} first: the model takes {{ answers.data_config.input_size[0] }} channel{{ "s" if answers.data_config.input_size[0] != 1 }}.
    """

    model_input_names = ("pixel_values",)

    def __init__(self, pretrained_cfg=None, architecture=None, **kwargs):
        # Only timm's keys: the rest of config.json (read whole, as TimmWrapper's processor reads it) is the model's.
        super().__init__(architecture=architecture)
        self.pretrained_cfg = dict(PRETRAINED_CFG if pretrained_cfg is None else pretrained_cfg)
        self.data_config = timm.data.resolve_data_config(self.pretrained_cfg, model=None, verbose=False)
        self.transform = timm.data.create_transform(**self.data_config, is_training=False)

    @classmethod
    def get_image_processor_dict(cls, pretrained_model_name_or_path, **kwargs):
        # The preprocessing lives in config.json, as in timm's own repositories.
        kwargs.setdefault("image_processor_filename", "config.json")
        return super().get_image_processor_dict(pretrained_model_name_or_path, **kwargs)

    def to_dict(self):
        output = super().to_dict()
        output.pop("transform", None)
        output.pop("data_config", None)
        return output

    def save_pretrained(self, save_directory, *args, **kwargs):
        # Its code only: the preprocessing is saved with the model, in config.json's `pretrained_cfg`
        # (as TimmWrapper's processor does), so no second copy can disagree with it.
        os.makedirs(save_directory, exist_ok=True)
        return custom_object_save(self, save_directory)

    def preprocess(self, images, return_tensors="pt", **kwargs) -> BatchFeature:
        images = [
            to_pil_image(image).convert({{ image_mode | pyrepr }})
            for image in make_flat_list_of_images(images)
        ]
        pixel_values = torch.stack([self.transform(image) for image in images])
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)
