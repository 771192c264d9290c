"""What the templates render: an architecture's config fields and everything its generated files need."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from timm_hub_template.introspection.encoding import _has_dicts

# Constructor parameters that Transformers' PreTrainedConfig also uses. Left to the class default when the
# architecture does not set them; otherwise the config field is called `timm_<name>`.
RESERVED_NAMES = frozenset(
    {"device", "dtype", "architectures", "problem_type", "return_dict", "output_hidden_states", "output_attentions"}
)
# Names the config itself uses: PreTrainedConfig's `validate_architecture` checks
# head_dim * num_heads == embed_dim, and the backbone settings are BackboneConfigMixin's.
RENAMED_NAMES = frozenset({"head_dim", "out_features", "out_indices", "stage_names"}) | RESERVED_NAMES


class Kind(enum.Enum):
    """How a config field holds a constructor argument, and how the modeling file passes it on."""

    PLAIN = "plain"  # JSON as it is: `config.x`
    COMPONENT = "component"  # a COMPONENTS key, a tagged dict with arguments, a factory name or None
    STRUCTURE = "structure"  # JSON with tagged components and dataclasses inside: `resolve(config.x)`
    GENERATOR = "generator"  # timm's generator vocabulary (`arch_def` ...): see generator_fields.py


@dataclasses.dataclass(frozen=True)
class Field:
    """One explicit constructor argument, as a config field."""

    name: str  # the config attribute
    value: Any  # the value in config form: JSON, a component key, or tagged JSON
    kind: Kind
    choices: tuple[Any, ...] = ()  # what a component field may name: COMPONENTS keys, factory names, None
    parameter: str = ""  # the constructor argument, when it differs from `name`
    constant: bool = False  # the configuration file names its default as a module constant (`ARCH_DEF`)

    @property
    def argument_name(self) -> str:
        return self.parameter or self.name

    @property
    def nested(self) -> bool:
        """Whether the value holds dicts: the configuration file then names its default as a module constant."""
        return self.constant or _has_dicts(self.value)


@dataclasses.dataclass(frozen=True)
class ArchitectureSpec:
    """Everything the templates and the export need to know about one timm architecture."""

    name: str  # architecture without the pretrained tag, e.g. "resnet50d"
    tag: str  # pretrained tag, e.g. "a1_in1k" (timm's default tag when none was given)
    model_class: str  # e.g. "ResNet"
    model_module: str  # e.g. "timm.models.resnet"
    model_class_source: str  # how the modeling file names the class ("ResNet", or "" for the fallback)
    fields: tuple[Field, ...]
    components: tuple[tuple[str, str], ...]  # (key, Python source) of the modeling file's COMPONENTS
    imports: tuple[tuple[str, str, str], ...]  # (module, name, alias) imported by the modeling file
    passes_num_classes: bool
    pruned: bool  # built narrowed by timm's pruning file (`pruned_variant` names it)
    prunable: bool  # the class has pruned architectures: its config has a `pruned_variant` field
    uses_partial: bool  # some architecture of the class gives a component arguments
    fallback_reason: str  # empty when the fields are explicit
    num_classes: int
    in_chans: int  # the input channels timm builds the model for (the processor converts images to match)
    classifier: tuple[str, ...]  # head module names from timm's pretrained_cfgs of the class
    shared: tuple[tuple[str, str], ...]  # (parameter, the parameter it is) where timm shares modules (coat)
    model_args: dict[str, Any]  # keyword arguments of timm.create_model besides the name and head size
    stage_names: tuple[str, ...]  # modules of timm's feature_info: the backbone's feature maps
    pretrained_cfg: dict[str, Any]
    supports_gradient_checkpointing: bool  # timm's set_grad_checkpointing works on this model
    # Constructor arguments the modeling file builds from generator fields (`block_args`, ...): generator_fields.py
    generator_arguments: tuple[str, ...] = ()
    pools: bool = True  # timm's forward_head pools the features (encoders without a head refuse: Qwen3VitEncoder)

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.tag}" if self.tag else self.name

    @property
    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of `timm.create_model` that build this spec's model: its model args and head."""
        return {**self.model_args, **({"num_classes": self.num_classes} if self.passes_num_classes else {})}

    @property
    def explicit(self) -> bool:
        return not self.fallback_reason

    @property
    def component_fields(self) -> tuple[Field, ...]:
        """Fields that name a component (checked against their choices by the config)."""
        return tuple(field for field in self.fields if field.kind is Kind.COMPONENT)

    @property
    def uses_resolve(self) -> bool:
        return any(field.kind is not Kind.PLAIN for field in self.fields)

    @property
    def code_imports(self) -> tuple[str, ...]:
        """What the modeling file's own code imports besides the timm objects of `imports`, as `import_block`
        takes it (`"module"` or `"module:name"`): torch, Transformers' classes of the models it defines, and timm
        itself for the fallback, which creates the model by name."""
        return (
            "torch",
            "transformers:PreTrainedModel",
            "transformers.integrations:is_deepspeed_zero3_enabled",
            "transformers.modeling_outputs:BaseModelOutputWithPooling",
            *(["transformers.modeling_outputs:ImageClassifierOutput"] if self.pools else []),
            *(["transformers.modeling_outputs:BackboneOutput"] if self.stage_names else []),
            *([] if self.explicit else ["timm"]),
            *(["typing:ClassVar"] if self.classifier else []),  # the type of the head's keys to ignore
        )

    @property
    def config_values(self) -> dict[str, Any]:
        """The config.json values of the explicit fields: what makes this architecture from any of its class."""
        values = {field.name: field.value for field in self.fields}
        if self.prunable:
            values["pruned_variant"] = self.name if self.pruned else None
        return values
