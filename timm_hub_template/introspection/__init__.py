"""Find out how timm builds an architecture, and describe it as config fields plus Python source.

Every timm entrypoint ends in `build_model_with_cfg(model_cls, variant, pretrained, **kwargs)`, which completes the
kwargs from the pretrained config (`num_classes`, `in_chans`, `img_size`) and then calls `model_cls(**kwargs)`.
Recording that call while building the model on the meta device gives the exact constructor arguments of any
architecture in seconds, without allocating weights.

The recorded arguments become config fields in one of three kinds, decided for the timm class as a whole (every
architecture of `timm.list_models()` built by it, listed in `timm_classes.json`), so that all architectures of a
class share one modeling file and differ only in config values:
- plain: JSON values (numbers, strings, tuples), written as they are;
- component: a class or function, named by a key of the modeling file's `COMPONENTS` mapping (like `BLOCK_MAPPING`
  in the Transformers guide), a name timm's own factories resolve (`"relu"`, `"groupnorm"`), or None; a
  `functools.partial` is the dict `{"__component__": key, **arguments}`, so its arguments are config data too;
- structure: JSON with dicts inside (block lists, dataclass configs), where components with arguments and
  dataclasses are tagged as `{"__component__": key, ...}` and `{"__dataclass__": key, **fields}`; the modeling
  file's `resolve()` rebuilds them, on fresh copies since some timm constructors edit their arguments.
A component without arguments is written as its bare key (`"BatchNorm2d"`), at any depth (`plain_components`);
`resolve()` reads a string that is a `COMPONENTS` key as that component, and the tagged dict still loads.
Arguments that no config can hold (module instances, lambdas, local closures) make the architecture fall back
to `timm.create_model(name)`, the way Transformers' TimmWrapper builds every model.

The jobs, one module each:
- `capture`: record the constructor call timm's `build_model_with_cfg` makes: the class and its keyword arguments;
- `encoding`: how a constructor argument becomes config data: JSON values, components and dataclasses tagged;
- `source`: timm's objects by reference: `module:qualname` in timm_classes.json, imports in the modeling file;
- `classes`: the timm class as a whole: every architecture of `timm.list_models()` that builds it;
- `spec`: what the templates render: an architecture's config fields and everything its generated files need;
- `generator_fields`: the compact generator-level fields (`arch_def`, ...) of the classes timm builds from block
  strings (EfficientNet, MobileNetV3);
- `architecture`: `inspect_architecture`, one timm architecture (`name` or `name.tag`) as an `ArchitectureSpec`.
"""

from __future__ import annotations

from timm_hub_template.introspection.architecture import (
    UnknownArchitectureError,
    inspect_architecture,
    pools,
    split_architecture,
)
from timm_hub_template.introspection.capture import Capture, capture_constructor_calls
from timm_hub_template.introspection.classes import (
    CLASSES_FILE,
    FACTORY_CALL,
    ClassInfo,
    class_architectures,
    class_info,
    class_key,
    class_table,
    describe_class,
    factory_names,
)
from timm_hub_template.introspection.encoding import (
    COMPONENT_TAG,
    DATACLASS_TAG,
    ConfigEncoder,
    json_safe,
    plain_components,
)
from timm_hub_template.introspection.source import SourceWriter, Unrepresentable, object_of, reference_of
from timm_hub_template.introspection.spec import RENAMED_NAMES, RESERVED_NAMES, ArchitectureSpec, Field, Kind

__all__ = [
    "CLASSES_FILE",
    "COMPONENT_TAG",
    "DATACLASS_TAG",
    "FACTORY_CALL",
    "RENAMED_NAMES",
    "RESERVED_NAMES",
    "ArchitectureSpec",
    "Capture",
    "ClassInfo",
    "ConfigEncoder",
    "Field",
    "Kind",
    "SourceWriter",
    "UnknownArchitectureError",
    "Unrepresentable",
    "capture_constructor_calls",
    "class_architectures",
    "class_info",
    "class_key",
    "class_table",
    "describe_class",
    "factory_names",
    "inspect_architecture",
    "json_safe",
    "object_of",
    "plain_components",
    "pools",
    "reference_of",
    "split_architecture",
]
