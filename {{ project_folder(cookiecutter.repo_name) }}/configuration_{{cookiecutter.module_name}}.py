{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set prefix = cookiecutter.class_prefix -%}
"""Configuration of {{ prefix }} models: timm's `{{ spec.name }}` architecture."""

from transformers import PretrainedConfig
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


class {{ prefix }}Config({{ "BackboneConfigMixin, " if spec.stage_names }}PretrainedConfig):
{%- if spec.explicit %}
    r"""
    The constructor arguments of timm's `{{ spec.model_class }}`, at the values of `{{ spec.name }}`.

    Edit a field, here or in `config.json`, to build a different model of the class.
{%- if spec.component_fields %}
    Fields like `{{ spec.component_fields[0].name }}` take one of their `*_CHOICES`: an entry of `COMPONENTS`
    in `modeling_{{ cookiecutter.module_name }}.py`, a name timm resolves, or None.
{%- endif %}
{%- if spec.components %}
    `{"__component__": key, **arguments}` is that `COMPONENTS` entry with arguments
    (`functools.partial`); `{"__dataclass__": key, ...}` builds that dataclass.
{%- endif %}
{%- if spec.prunable %}
    `pruned_variant` names a timm `*_pruned` architecture whose channel counts to apply.
{%- endif %}
    The classifier size is Transformers' `num_labels`, from `id2label` in config.json.
    """
{%- else %}
    r"""
    timm's `{{ spec.name }}`, created by name like Transformers' TimmWrapper does.

    A config cannot hold what timm passes to `{{ spec.model_class }}`:
    {{ ("its " ~ spec.fallback_reason ~ ".") | wordwrap(84, break_long_words=False, wrapstring="\n    ") }}

    `model_args` are keyword arguments for `timm.create_model`; the classifier size is
    Transformers' `num_labels`, from `id2label` in config.json.
    """
{%- endif %}

    model_type = {{ cookiecutter.model_type | pyrepr }}

    def __init__(
        self,
{%- if spec.explicit %}
{%- for field in spec.fields %}
        {{ field.name }}={{ field.name | upper if field.nested else field.value | pyliteral }},
{%- endfor %}
{%- if spec.prunable %}
        pruned_variant={{ (spec.name if spec.pruned else none) | pyrepr }},
{%- endif %}
{%- else %}
        architecture={{ spec.name | pyrepr }},
        model_args=None,
{%- endif %}
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
{%- if spec.stage_names %}
        self.stage_names = list(STAGE_NAMES)
        self.set_output_features_output_indices(out_features, out_indices)
{%- endif %}
        super().__init__(**kwargs)
