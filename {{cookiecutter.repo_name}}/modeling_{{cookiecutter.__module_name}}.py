{%- set answers = cookiecutter | answers -%}
{%- set spec = answers.spec -%}
{%- set prefix = cookiecutter.__class_prefix -%}
{%- set config_class = prefix ~ "Config" -%}
{%- if spec.explicit -%}
"""Transformers models for timm's `{{ spec.model_class }}` class.

`build_timm_model` constructs timm's `{{ spec.model_class }}` from the fields of
`{{ config_class }}`: edit a field to build another model of the class.
{%- else -%}
"""Transformers models for timm's `{{ spec.name }}`.

`build_timm_model` creates the model by name with `timm.create_model`, like
Transformers' TimmWrapper does, because a config cannot hold what timm passes to
{{ ("`" ~ spec.model_class ~ "`: its " ~ spec.fallback_reason ~ ".") | wordwrap(88, break_long_words=False, wrapstring="\n") }}
{%- endif %}
"""

{{ spec.imports | import_block(spec.code_imports) }}

from .configuration_{{ cookiecutter.__module_name }} import {{ config_class }}
{%- if spec.stage_names %}

try:
    from transformers.backbone_utils import BackboneMixin
except ImportError:  # Transformers < 5.1
    from transformers.utils import backbone_utils

    class BackboneMixin(backbone_utils.BackboneMixin):
        """Transformers < 5.1's mixin, initialised as later versions do."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_backbone(self.config)
{%- endif %}
{%- if spec.components or spec.component_fields %}

# What config fields name, like the BLOCK_MAPPING of the Transformers guide.
COMPONENTS = {
{%- for key, source in spec.components %}
    {{ key | pyrepr }}: {{ source }},
{%- endfor %}
}
{%- endif %}
{%- if spec.uses_resolve %}
{%- if spec.components %}


def named_component(name):
    """The timm class or function a config value names: only those `COMPONENTS` lists."""
    if not isinstance(name, str) or name not in COMPONENTS:
        raise ValueError(f"unknown component {name!r} in the config; valid: {', '.join(COMPONENTS)}")
    return COMPONENTS[name]
{%- endif %}


def resolve(value):
{%- if spec.components %}
    """Rebuild the timm objects in a config value: components (a `COMPONENTS` key, or a dict
    with its arguments), dataclasses. Sequences come back as lists, as from `config.json`.
    """
    if isinstance(value, str):
        return COMPONENTS.get(value, value)
    if isinstance(value, dict):
        fields = {k: resolve(v) for k, v in value.items() if not k.startswith("__")}
        if "__component__" in value:
{%- if spec.uses_partial %}
            layer = named_component(value["__component__"])
            # Layer arguments as timm writes them: sizes as tuples (RepConditionalPosEnc asserts it).
            arguments = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
            return partial(layer, **arguments) if arguments else layer
{%- else %}
            return named_component(value["__component__"])
{%- endif %}
        if "__dataclass__" in value:
            return named_component(value["__dataclass__"])(**fields)
        return fields
{%- else %}
    """A nested config value as it comes back from `config.json`: sequences as lists."""
    if isinstance(value, dict):
        return {key: resolve(item) for key, item in value.items()}
{%- endif %}
    if isinstance(value, (list, tuple)):
        return [resolve(item) for item in value]
    return value
{%- endif %}
{%- if spec.component_fields %}


def component(value):
    """A component field: a `COMPONENTS` key, a dict of one with its arguments,
    or a name timm resolves itself (such as "relu")."""
    if isinstance(value, str):
        return COMPONENTS.get(value, value)
    return resolve(value)
{%- endif %}
{%- if spec.generator_arguments %}


def block_args_of(config):
    """timm's `block_args`: the `arch_def` block strings decoded as timm's generators
    decode them, or the decoded blocks `block_args` gives instead."""
    if config.block_args is not None:
        return resolve(config.block_args)
    if config.arch_def is None:
        raise ValueError("Set `arch_def` (timm's block strings) or `block_args`.")
    depth_multiplier = config.depth_multiplier
    if isinstance(depth_multiplier, list):  # one per stage: a tuple to timm
        depth_multiplier = tuple(depth_multiplier)
    return decode_arch_def(
        [list(stage) for stage in config.arch_def],
        depth_multiplier,
        depth_trunc=config.depth_trunc,
        experts_multiplier=config.experts_multiplier,
        fix_first_last=config.fix_first_last,
        group_size=config.group_size,
    )


def round_chs_fn_of(config):
    """timm's channel rounding: `round_channels` with the config's settings."""
    return partial(
        round_channels,
        multiplier=config.channel_multiplier,
        divisor=config.channel_divisor,
        channel_min=config.channel_min,
        round_limit=config.round_limit,
    )
{%- if "num_features" in spec.generator_arguments %}


def num_features_of(config):
    """The head width, derived from `num_features` as timm's generators derive it."""
    rounding = config.num_features_rounding
    if rounding is None:
        return config.num_features
    rounded = round_chs_fn_of(config)(config.num_features)
    if rounding == "round":
        return rounded
    if rounding == "max":
        return max(config.num_features, rounded)
    raise ValueError(f"num_features_rounding: None, 'round' or 'max', not {rounding!r}")
{%- endif %}
{%- endif %}

def build_timm_model(config: {{ config_class }}, num_classes: int) -> torch.nn.Module:
    """timm's `{{ spec.model_class }}` for `config`, without a classifier if `num_classes=0`."""
{%- if spec.explicit %}
    {{ "model =" if spec.prunable else "return" }} {{ spec.model_class_source }}(
{%- for argument in spec.generator_arguments %}
        {{ argument }}={{ argument }}_of(config),
{%- endfor %}
{%- for field in spec.fields if field.kind.value != "generator" %}
{%- if field.kind.value == "component" %}
        {{ field.argument_name }}=component(config.{{ field.name }}),
{%- elif field.kind.value == "structure" %}
        {{ field.argument_name }}=resolve(config.{{ field.name }}),
{%- else %}
        {{ field.argument_name }}=config.{{ field.name }},
{%- endif %}
{%- endfor %}
{%- if spec.passes_num_classes %}
        num_classes=num_classes,
{%- endif %}
    )
{%- if spec.prunable %}
    if config.pruned_variant is not None:
        # timm narrows the layers of its pruned variants to the channel counts in its pruning file.
        model = adapt_model_from_file(model, config.pruned_variant)
    return model
{%- endif %}
{%- else %}
    model_args = config.model_args or {}
    return timm.create_model(config.architecture, pretrained=False, num_classes=num_classes, **model_args)
{%- endif %}

{%- if spec.shared %}


def shared_parameters(module, prefix):
    """Each parameter that is the same tensor as an earlier one, mapped to that one's name."""
    first, shared = {}, {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        original = first.setdefault(id(parameter), prefix + name)
        if original != prefix + name:
            shared[prefix + name] = original
    return shared
{%- endif %}


class {{ prefix }}PreTrainedModel(PreTrainedModel):
    """Shared by the models below; all keep timm's model as `timm_model`."""

    config_class = {{ config_class }}
    base_model_prefix = "timm_model"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def post_init(self):
{%- if spec.shared %}
        # timm shares modules between blocks: saved once, tied again on load.
        self._tied_weights_keys = shared_parameters(self.timm_model, prefix="timm_model.")
{%- endif %}
        # Only where timm's model has working checkpointing (asked as Transformers' TimmWrapper does).
        self.supports_gradient_checkpointing = self._timm_has_checkpointing()
        super().post_init()

    def _timm_has_checkpointing(self):
        if not hasattr(self.timm_model, "set_grad_checkpointing"):
            return False
        try:
            self.timm_model.set_grad_checkpointing(enable=True)
            self.timm_model.set_grad_checkpointing(enable=False)
        except (AssertionError, NotImplementedError, RuntimeError):  # what timm raises when unsupported
            return False
        return True

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        # Tensors mapped from model.safetensors can sit at unaligned addresses, where CPU
        # kernels round differently: copy those once, so outputs equal timm's bit for bit.
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.device.type == "cpu" and tensor.data_ptr() % 64:
                tensor.data = tensor.data.clone()
        return loaded

    def save_pretrained(self, save_directory, *args, state_dict=None, **kwargs):
        # The weights under timm's own names, as timm and Transformers' TimmWrapper save and read
        # them; a parameter timm shares between modules is saved under each name, as timm does.
        if state_dict is None:
            state_dict = self.state_dict()
        tied = getattr(self, "_tied_weights_keys", None) or ()
        state_dict = {
            key.removeprefix("timm_model."): value.clone() if key in tied else value
            for key, value in state_dict.items()
        }
        return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)

    def load_state_dict(self, state_dict, *args, **kwargs):
        # Checkpoints hold timm's names (Trainer resumes with this method, not from_pretrained).
        prefixed = {
            key if key.startswith("timm_model.") else f"timm_model.{key}": value
            for key, value in state_dict.items()
        }
        return super().load_state_dict(prefixed, *args, **kwargs)

    @classmethod
    def get_init_context(cls, *args, **kwargs):
        # Transformers < 5 builds parameters on the meta device but buffers on the CPU,
        # where timm modules that run a forward pass when built (hybrid ViT stems) fail.
        contexts = super().get_init_context(*args, **kwargs)
        on_meta = any(isinstance(context, torch.device) for context in contexts)
        if on_meta or is_deepspeed_zero3_enabled():
            return contexts
        return [*contexts, torch.device("meta")]

    def _init_weights(self, module):
        super()._init_weights(module)
        # from_pretrained builds on the meta device; timm's non-persistent buffers
        # (relative position indices, rotary tables) are not in checkpoints.
        if hasattr(module, "init_non_persistent_buffers"):
            module.init_non_persistent_buffers()

    def _set_gradient_checkpointing(self, enable=True, *args, **kwargs):
        self.timm_model.set_grad_checkpointing(enable)

    def _forward_features(self, pixel_values, output_attentions, output_hidden_states):
        """timm's `forward_features`, or `forward_intermediates` for hidden states."""
        if output_attentions:
            raise ValueError("timm models do not return attentions: unset `output_attentions`.")
        pixel_values = pixel_values.to(self.device, self.dtype)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if not output_hidden_states:
            return self.timm_model.forward_features(pixel_values), None
        indices = output_hidden_states if isinstance(output_hidden_states, list) else None
        last, hidden_states = self.timm_model.forward_intermediates(pixel_values, indices)
        return last, tuple(hidden_states)


class {{ prefix }}Model({{ prefix }}PreTrainedModel):
{%- if spec.pools %}
    """timm's features and pooled pre-logits features, without the classifier."""
{%- else %}
    """timm's features: `{{ spec.model_class }}` is an encoder without a pooling head or classifier."""
{%- endif %}
{%- if spec.classifier %}

    # Classification checkpoints also hold the classifier, which this model leaves out
    # (a list: Transformers before 5.1 adds lists to it). Checkpoints hold timm's names.
    _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = {{ spec.classifier | map("head_pattern") | list | pyrepr }}
{%- endif %}

    def __init__(self, config: {{ config_class }}):
        super().__init__(config)
        self.timm_model = build_timm_model(config, num_classes=0)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | list[int] | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        features, hidden_states = self._forward_features(
            pixel_values, output_attentions, output_hidden_states
        )
{%- if spec.pools %}
        pooled = self.timm_model.forward_head(features, pre_logits=True)
{%- else %}
        pooled = None  # timm's encoder has no head to pool with
{%- endif %}
        if not return_dict:
            return tuple(x for x in (features, pooled, hidden_states) if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=features, pooler_output=pooled, hidden_states=hidden_states
        )

{%- if spec.pools %}


class {{ prefix }}ForImageClassification({{ prefix }}PreTrainedModel):
    """timm's model with its classifier head of `config.num_labels` classes."""

    def __init__(self, config: {{ config_class }}):
        super().__init__(config)
        if config.num_labels < 1:
            raise ValueError(
                "An image classifier needs num_labels >= 1: use AutoModel for features."
            )
        self.timm_model = build_timm_model(config, num_classes=config.num_labels)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | list[int] | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        features, hidden_states = self._forward_features(
            pixel_values, output_attentions, output_hidden_states
        )
        logits = self.timm_model.forward_head(features)
        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config)
        if not return_dict:
            return tuple(x for x in (loss, logits, hidden_states) if x is not None)
        return ImageClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)
{%- endif %}

{%- if spec.stage_names %}


class {{ prefix }}Backbone(BackboneMixin, {{ prefix }}Model):
    """timm's feature maps at `config.out_indices`, for detection and segmentation heads."""

    has_attentions = False

    def __init__(self, config: {{ config_class }}):
        super().__init__(config)
        self.num_features = [info["num_chs"] for info in self.timm_model.feature_info]

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        if output_attentions:
            raise ValueError("timm models do not return attentions: unset `output_attentions`.")
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pixel_values = pixel_values.to(self.device, self.dtype)
        indices = None if output_hidden_states else list(self.out_indices)
        maps = self.timm_model.forward_intermediates(
            pixel_values, indices, intermediates_only=True
        )
        hidden_states = tuple(maps) if output_hidden_states else None
        if output_hidden_states:
            maps = [maps[index] for index in self.out_indices]
        if not return_dict:
            return tuple(x for x in (tuple(maps), hidden_states) if x is not None)
        return BackboneOutput(feature_maps=tuple(maps), hidden_states=hidden_states)
{%- endif %}
