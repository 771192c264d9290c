{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set prefix = cookiecutter.__class_prefix -%}
"""Configuration of {{ prefix }} models: timm's `{{ spec.name }}` architecture.

config.json also holds timm's own description of the model (`architecture`, `model_args`,
`num_classes`, `label_names`, `pretrained_cfg`), which `timm.create_model("hf-hub:<repo>")`
and Transformers' TimmWrapper (without remote code) read.
"""
{%- if spec.explicit %}

import inspect
import json
{%- endif %}

from transformers import PretrainedConfig
{%- if spec.explicit %}
from transformers.utils import logging

logger = logging.get_logger(__name__)
{%- endif %}
{%- if spec.stage_names %}

try:
    from transformers.backbone_utils import BackboneConfigMixin
except ImportError:  # Transformers < 5.1
    from transformers.utils import backbone_utils

    class BackboneConfigMixin(backbone_utils.BackboneConfigMixin):
        """Transformers < 5.1's mixin, with the method of later versions."""

        def set_output_features_output_indices(self, out_features, out_indices):
            align = backbone_utils.get_aligned_output_features_output_indices
            aligned = align(out_features, out_indices, self.stage_names)
            self._out_features, self._out_indices = aligned
{%- endif %}
{%- for field in spec.component_fields %}
{%- if loop.first %}
{# blank line #}
{%- endif %}
{{ field.name | upper }}_CHOICES = {{ field.choices | pyliteral }}
{%- endfor %}
{%- for field in spec.fields if field.nested %}

# The `{{ field.name }}` of timm's `{{ spec.name }}`.
{{ field.name | upper }} = {{ field.value | pyliteral }}
{%- endfor %}


{%- if not spec.explicit and spec.model_args %}

# The keyword arguments of `timm.create_model` this model was made with.
MODEL_ARGS = {{ spec.model_args | pyrepr }}
{%- endif %}

{%- if spec.explicit %}

# timm's description of the model these fields build, written to config.json with them.
TIMM_ARCHITECTURE = {{ spec.name | pyrepr }}
TIMM_MODEL_ARGS = {{ spec.model_args | pyrepr }}
{%- endif %}

# timm's pretrained config: the data config of the weights, where the stem and head are.
PRETRAINED_CFG = {{ answers | timm_pretrained_cfg | pyrepr }}
# The keys of config.json that timm reads (and Transformers' TimmWrapper, without remote code).
TIMM_KEYS = ("architecture", "model_args", "num_classes", "label_names", "pretrained_cfg")
# The image processor AutoImageProcessor takes with remote code. Not written to config.json:
# Transformers 4.57 would then ask for remote code before reading the config, even for
# TimmWrapper's processor.
IMAGE_PROCESSOR = {{ ("image_processing_" ~ cookiecutter.__module_name ~ "." ~ prefix ~ "ImageProcessor") | pyrepr }}
{%- if spec.stage_names %}

# The feature maps a {{ prefix }}Backbone can return (timm's `feature_info`).
STAGE_NAMES = {{ spec.stage_names | pyliteral }}
{%- endif %}
{%- if spec.component_fields %}


def check_choice(field, value, choices):
    """Refuse a component that neither `COMPONENTS` in the modeling file nor timm knows.

    A sequence (one component per stage) is checked item by item.
    """
    for item in value if isinstance(value, (list, tuple)) else [value]:
        name = item.get("__component__") if isinstance(item, dict) else item
        if name not in choices:
            raise ValueError(f"`{field}` must be one of {choices}, got {item!r}.")
{%- endif %}

{%- if spec.explicit %}


def as_json(value):
    """A field value as config.json holds it (tuples as lists), to compare values from either."""
    return json.loads(json.dumps(value))
{%- endif %}


class {{ prefix }}Config({{ "BackboneConfigMixin, " if spec.stage_names }}PretrainedConfig):
{%- if spec.explicit %}
    r"""
    The constructor arguments of timm's `{{ spec.model_class }}`, at the values of `{{ spec.name }}`.

    Edit a field, here or in `config.json`, to build a different model of the class.
{%- if spec.component_fields %}
    Fields like `{{ spec.component_fields[0].name }}` take one of their `*_CHOICES`: an entry of `COMPONENTS`
    in `modeling_{{ cookiecutter.__module_name }}.py`, a name timm resolves, or None.
{%- endif %}
{%- if spec.components %}
    A component is its key; `{"__component__": key, **arguments}` is that `COMPONENTS`
    entry with arguments (`functools.partial`); `{"__dataclass__": key, ...}` builds that
    dataclass.
{%- endif %}
{%- if spec.generator_arguments %}
    As in timm's generator functions, `arch_def` holds the block strings of each stage
    (`"ir_r2_k3_s2_e6_c24_se0.25"`: block type, repeats, kernel size, stride, expansion,
    output channels, squeeze-excite ratio), decoded by timm's `decode_arch_def` with
    `depth_multiplier`, `depth_trunc`, `experts_multiplier`, `fix_first_last` and
    `group_size`. Channel counts are rounded by timm's `round_channels` with
    `channel_multiplier`, `channel_divisor`, `channel_min` and `round_limit`{{ "; the head
    width is `num_features`, rounded the same way when `num_features_rounding` is
    \"round\" (\"max\": never below `num_features`)" if "num_features" in spec.generator_arguments }}.
    `block_args`, when set, are decoded blocks used instead of `arch_def`.
{%- endif %}
{%- if spec.prunable %}
    `pruned_variant` names a timm `*_pruned` architecture whose channel counts to apply.
{%- endif %}
    The classifier size is Transformers' `num_labels`, from `label_names` in config.json.

{{ spec | config_args_doc }}
    """
{%- else %}
    r"""
    timm's `{{ spec.name }}`, created by name like Transformers' TimmWrapper does.

    A config cannot hold what timm passes to `{{ spec.model_class }}`:
    {{ ("its " ~ spec.fallback_reason ~ ".") | wordwrap(84, break_long_words=False, wrapstring="\n    ") }}

    `model_args` are keyword arguments for `timm.create_model`; the classifier size is
    Transformers' `num_labels`, from `label_names` in config.json.

{{ spec | config_args_doc }}
    """
{%- endif %}

    # The type Transformers gives a config.json with `pretrained_cfg` and no `model_type`.
    model_type = "timm_wrapper"

    def __init__(
        self,
{%- if spec.explicit %}
{%- for field in spec.fields %}
        {{ field.name }}={{ field.name | upper if field.nested else field.value | pyliteral }},
{%- endfor %}
{%- if spec.prunable %}
        pruned_variant={{ (spec.name if spec.pruned else none) | pyrepr }},
{%- endif %}
        architecture=None,
        model_args=None,
{%- else %}
        architecture={{ spec.name | pyrepr }},
        model_args=None,
{%- endif %}
        pretrained_cfg=None,
        label_names=None,
        num_classes=None,
{%- if spec.stage_names %}
        out_features=None,
        out_indices=None,
{%- endif %}
        **kwargs,
    ):
{%- for field in spec.component_fields %}
        check_choice({{ field.name | pyrepr }}, {{ field.name }}, {{ field.name | upper }}_CHOICES)
{%- endfor %}
{%- if spec.explicit %}
{%- for field in spec.fields %}
        self.{{ field.name }} = {{ field.name }}
{%- endfor %}
{%- if spec.prunable %}
        self.pruned_variant = pruned_variant
{%- endif %}
{%- else %}
        self.architecture = architecture
{%- if spec.model_args %}
        self.model_args = dict(MODEL_ARGS) if model_args is None else model_args
{%- else %}
        self.model_args = model_args
{%- endif %}
{%- endif %}
        self.pretrained_cfg = dict(PRETRAINED_CFG) if pretrained_cfg is None else pretrained_cfg
{%- if not spec.pools %}
        # Read by Transformers' TimmWrapper: timm's encoder has no head to pool with.
        kwargs.setdefault("do_pooling", False)
{%- endif %}
        # timm's labels and head size, unless Transformers' own are given.
        if "id2label" not in kwargs and "num_labels" not in kwargs:
            if label_names is not None:
                kwargs["id2label"] = dict(enumerate(label_names))
            elif num_classes is not None:
                kwargs["num_labels"] = num_classes
{%- if spec.stage_names %}
        self.stage_names = list(STAGE_NAMES)
        self.set_output_features_output_indices(out_features, out_indices)
{%- endif %}
        super().__init__(**kwargs)
        self.auto_map = {**(getattr(self, "auto_map", None) or {}), "AutoImageProcessor": IMAGE_PROCESSOR}
{%- if spec.explicit %}
        # Read from a config.json: its timm fields must describe the explicit fields.
        if architecture is not None:
            edited = self.fields_unlike_timm()
            if architecture != TIMM_ARCHITECTURE or as_json(model_args) != as_json(TIMM_MODEL_ARGS):
                edited = ["architecture", "model_args", *edited]
            if edited:
                logger.warning(
                    f"config.json's timm fields (architecture={architecture!r}, model_args={model_args!r}) "
                    f"do not describe its explicit fields: {', '.join(edited)} differ from timm's "
                    f"{TIMM_ARCHITECTURE!r}. This code builds the explicit fields; timm and "
                    "TimmWrapper would build another model. Saving this config makes it custom-code only."
                )

    def fields_unlike_timm(self):
        """The explicit fields whose values differ from those of timm's `TIMM_ARCHITECTURE`
        with `TIMM_MODEL_ARGS` (this class's defaults): [] while timm builds the same model."""
        parameters = inspect.signature({{ prefix }}Config.__init__).parameters
        return [
            name
            for name, parameter in parameters.items()
            if name not in ("self", "kwargs", "out_features", "out_indices", *TIMM_KEYS)
            and as_json(getattr(self, name)) != as_json(parameter.default)
        ]
{%- endif %}

    def to_dict(self):
        """The config with timm's fields{{ " while the explicit fields are timm's `TIMM_ARCHITECTURE`" if spec.explicit }}.

        `model_type` is left out as timm leaves it out: Transformers infers TimmWrapper's
        type from `pretrained_cfg`; the labels are timm's `label_names`.
        """
        output = super().to_dict()
        for key in ("model_type", "id2label", "label2id", *TIMM_KEYS):
            output.pop(key, None)
        auto_map = {key: name for key, name in output["auto_map"].items() if key != "AutoImageProcessor"}
        output["auto_map"] = auto_map
{%- if spec.explicit %}
        edited = self.fields_unlike_timm()
        if edited:
            # timm's fields would describe another model: only this code builds this one.
            output["custom_code_only"] = f"explicit fields differ from timm's {TIMM_ARCHITECTURE}: {', '.join(edited)}"
            output["label_names"] = list(self.id2label.values()) if self.num_labels else []
            return output
        output.pop("custom_code_only", None)
        timm_fields = {"architecture": TIMM_ARCHITECTURE, "model_args": TIMM_MODEL_ARGS}
{%- else %}
        timm_fields = {"architecture": self.architecture, "model_args": self.model_args or {}}
{%- endif %}
        timm_fields["num_classes"] = self.num_labels
        if self.num_labels:
            timm_fields["label_names"] = list(self.id2label.values())
        timm_fields["pretrained_cfg"] = {**self.pretrained_cfg, "num_classes": self.num_labels}
        return {**timm_fields, **output}
{%- if spec.explicit %}

    def save_pretrained(self, save_directory, *args, **kwargs):
        edited = self.fields_unlike_timm()
        if edited:
            logger.warning(
                f"Saved without timm's fields: {', '.join(edited)} differ from timm's "
                f"{TIMM_ARCHITECTURE!r}, so only this code (trust_remote_code=True) loads it."
            )
        return super().save_pretrained(save_directory, *args, **kwargs)
{%- endif %}
