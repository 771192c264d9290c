{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set image_mode = answers.data_config.input_size[0] | image_mode -%}
"""Image processor of {{ cookiecutter.class_prefix }} models: timm's eval transform."""

import torch
from timm.data import create_transform
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_transforms import to_pil_image
from transformers.image_utils import make_flat_list_of_images

# The standard image-processor fields of timm's transform, computed from its data config when the repository was
# generated, for tools that read only those (transformers.js, ONNX runtimes); `preprocess` runs timm's transform.
STANDARD_FIELDS = {{ answers.standard_processor_fields | pyrepr }}


class {{ cookiecutter.class_prefix }}ImageProcessor(BaseImageProcessor):
    """Resizes, crops and normalises images exactly as timm evaluates them.

    The arguments are timm's data config for `{{ spec.full_name }}`
    (`timm.data.resolve_data_config`), passed to `timm.data.create_transform`.
    Images of any mode are converted to {{ image_mode }} first: the model takes {{ answers.data_config.input_size[0] }} channel{{ "s" if answers.data_config.input_size[0] != 1 }}.
    """

    model_input_names = ("pixel_values",)

    def __init__(
        self,
{%- for key, value in answers.data_config.items() %}
        {{ key }}={{ value | pyliteral }},
{%- endfor %}
        **kwargs,
    ):
        super().__init__(**{**STANDARD_FIELDS, **kwargs})
{%- for key in answers.data_config %}
        self.{{ key }} = {{ key }}
{%- endfor %}
        self.transform = create_transform(
{%- for key in answers.data_config %}
            {{ key }}={{ key }},
{%- endfor %}
            is_training=False,
        )

    def to_dict(self):
        output = super().to_dict()
        output.pop("transform", None)
        # Neither the class name nor `auto_map` (which config.json holds): AutoImageProcessor
        # without remote code then falls through to TimmWrapper's processor.
        output.pop("image_processor_type", None)
        output.pop("auto_map", None)
        return output

    def preprocess(self, images, return_tensors="pt", **kwargs) -> BatchFeature:
        images = [
            to_pil_image(image).convert({{ image_mode | pyrepr }})
            for image in make_flat_list_of_images(images)
        ]
        pixel_values = torch.stack([self.transform(image) for image in images])
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)
