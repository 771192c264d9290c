"""The oldest timm 1.0.x a generated repository works with, computed from what its code uses.

The generated code passes every constructor argument of timm's class by name and imports timm's classes and
functions, so an older timm whose class lacks an argument fails with a TypeError, one without a class with an
ImportError. `timm_history.json` records, for every timm 1.0.x release on PyPI, since which release each model
name, public name of `timm.models`/`timm.layers`/`timm.data`, constructor argument and model method the
generated code calls (`forward_intermediates`, ...) exists (only what appeared
after the oldest release: the rest exists in all). `timm_floor(spec)` is the newest of those releases over
everything the architecture's code uses. Rebuild the table when timm releases (one `pip install --target` per
release, nothing else changes; `maintenance/timm_history.py`):

    python -m timm_hub_template.maintenance timm-history --cache /tmp/timm-versions

Not covered: arguments inside `functools.partial` components and behaviour that changed without a signature
change; `tests/test_compat.py` loads the representative architectures under their computed floor with parity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from timm_hub_template.data_config import DATA_CONFIG_KEYS

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

HISTORY = Path(__file__).parent / "timm_history.json"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def read_history(path: Path = HISTORY) -> dict:
    """{versions, since} from the table `maintenance.timm_history.write_history` wrote."""
    data = json.loads(path.read_text())
    since = {key: version for version, keys in data["added"].items() for key in keys}
    return {"versions": data["versions"], "since": since}


def required_keys(spec: ArchitectureSpec) -> list[str]:
    """What the generated code of `spec` uses of timm: names it imports, arguments it passes, the model name."""
    keys = [f"name:{module}:{name}" for module, name, _ in spec.imports if module.startswith("timm")]
    keys.append("name:timm.data:create_transform")
    keys += [f"param:timm.data:create_transform:{key}" for key in DATA_CONFIG_KEYS]  # the processor's arguments
    # forward_head and forward_features for the models, forward_intermediates for hidden states and the backbone.
    for method in ("forward_features", "forward_head", "forward_intermediates", "set_grad_checkpointing"):
        keys.append(f"method:{spec.model_module}:{spec.model_class}:{method}")
    if spec.explicit:
        owner = f"param:{spec.model_module}:{spec.model_class}"
        # the constructor's arguments: generator fields (`arch_def` ...) build `block_args` and the like
        passed = [field.argument_name for field in spec.fields if field.kind.value != "generator"]
        keys += [f"{owner}:{name}" for name in [*passed, *spec.generator_arguments]]
        if spec.passes_num_classes:
            keys.append(f"{owner}:num_classes")
    else:
        keys.append(f"model:{spec.name}")
    return keys


def timm_floor(spec: ArchitectureSpec, history: dict | None = None) -> str:
    """The oldest timm release with everything the generated code of `spec` uses.

    With a timm newer than the table's newest release, that timm's own version: nothing older is known to work.
    """
    import timm

    history = history if history is not None else read_history()
    versions = history["versions"]
    if version_key(timm.__version__) > version_key(versions[-1]):
        return timm.__version__
    floors = [history["since"].get(key, versions[0]) for key in required_keys(spec)]
    return max(floors, key=version_key)
