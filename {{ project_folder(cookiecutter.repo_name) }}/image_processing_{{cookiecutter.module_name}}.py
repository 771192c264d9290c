{%- set spec = cookiecutter.architecture | timm_spec(cookiecutter.num_labels) -%}
"""Image processor of {{ cookiecutter.class_prefix }} models: timm's eval transform."""

import torch
from timm.data import create_transform
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_transforms import to_pil_image
from transformers.image_utils import make_flat_list_of_images


class {{ cookiecutter.class_prefix }}ImageProcessor(BaseImageProcessor):
    """Resizes, crops and normalises images exactly as timm evaluates them.

    The arguments are timm's data config for `{{ spec.full_name }}`
    (`timm.data.resolve_data_config`), passed to `timm.data.create_transform`.
    """

    model_input_names = ("pixel_values",)

    def __init__(
        self,
{%- for key, value in spec.data_config.items() %}
        {{ key }}={{ value | pyliteral }},
{%- endfor %}
        **kwargs,
    ):
        super().__init__(**kwargs)
{%- for key in spec.data_config %}
        self.{{ key }} = {{ key }}
{%- endfor %}
        self.transform = create_transform(
{%- for key in spec.data_config %}
            {{ key }}={{ key }},
{%- endfor %}
            is_training=False,
        )

    def to_dict(self):
        output = super().to_dict()
        output.pop("transform", None)
        return output

    def preprocess(self, images, return_tensors="pt", **kwargs) -> BatchFeature:
        images = [to_pil_image(image) for image in make_flat_list_of_images(images)]
        pixel_values = torch.stack([self.transform(image) for image in images])
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)
