"""`timm_classes.json` does not go stale silently.

For a few classes, the entry is rebuilt with the same builder as `python -m timm_hub_template.maintenance classes`
(every architecture on the meta device, the constructor calls grouped by class) and must equal the committed file's,
field by field: architectures, fallbacks, fields with their kinds and choices, component keys. The architectures
built are the committed ones of the class and every architecture of the class's timm module, so one that timm added
to the module (or moved to another class) shows. EfficientNet and VisionTransformer (over 300 architectures) are slow;
ResNet and MetaFormer run in the quick loop.
"""

from __future__ import annotations

import json

import pytest
import timm

from timm_hub_template.introspection import CLASSES_FILE
from timm_hub_template.maintenance.class_table import build_class_table

CLASSES = [
    "timm.models.resnet:ResNet",
    "timm.models.metaformer:MetaFormer",
    pytest.param("timm.models.efficientnet:EfficientNet", marks=pytest.mark.slow),
    pytest.param("timm.models.vision_transformer:VisionTransformer", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("key", CLASSES)
def test_the_committed_class_table_is_what_the_builder_makes_now(key):
    committed = json.loads(CLASSES_FILE.read_text())
    entry = committed["classes"][key]
    module = key.split(":")[0].removeprefix("timm.models.")
    wanted = set(entry["architectures"]) | set(timm.list_models(module=module))
    names = [name for name in timm.list_models() if name in wanted]  # the table's order: timm.list_models()'

    rebuilt = build_class_table(names, progress=False)

    assert rebuilt["timm"] == committed["timm"]
    assert rebuilt["classes"][key]["architectures"] == entry["architectures"]
    for part in ("fallback", "fields", "components", "partials", "pruned"):
        assert rebuilt["classes"][key][part] == entry[part], (
            f"{key} {part}: python -m timm_hub_template.maintenance classes"
        )
