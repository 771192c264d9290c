"""timm's own fields of a generated `config.json`: what `timm.create_model("hf-hub:<repo>")` (or `"local-dir:"`) and
Transformers' TimmWrapper read, written as timm's `save_config_for_hf` writes them.

timm reads `architecture`, `model_args`, `num_classes`, `label_names` and `pretrained_cfg` (its data config:
`input_size`, `interpolation`, `mean`, `std`, `crop_pct`, `crop_mode`, and where the head and the stem are);
Transformers infers the `timm_wrapper` model type from `pretrained_cfg` when `model_type` is absent. The generated
configuration class holds `PRETRAINED_CFG` as its default and writes these fields when it is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers

# Where timm's weights came from: not a property of the published repository (timm's filter_pretrained_cfg drops them).
SOURCE_KEYS = frozenset({"url", "file", "hf_hub_id", "hf_hub_filename", "source", "state_dict"})
# What describes timm's release of the weights (its paper, origin, licence): said only of timm's own weights, never
# of random or trained ones. The `tag` stays: timm builds some architectures from it (qwen3_vit and deepseek_vit
# resolve their projector's `out_features` from the tag), so it names the configuration, not the weights.
RELEASE_KEYS = frozenset({"origin_url", "paper_ids", "paper_name", "notes", "license", "description"})
# Kept even when None, as timm keeps them: they say the model has no such module.
KEEP_NULL = frozenset({"pool_size", "first_conv", "classifier"})
# The evaluation sizes of timm's release, which no longer hold once the input size changes (as save_config_for_hf).
TEST_KEYS = ("test_input_size", "test_pool_size", "test_crop_pct")


def pretrained_cfg(answers: Answers) -> dict[str, Any]:
    """timm's pretrained config of the published weights: the architecture's, with the repository's data config
    (model_args, training args and the `data_config` variable applied) and head size; what describes timm's release
    only when the weights are that release."""
    source = answers.spec.pretrained_cfg
    left_out = SOURCE_KEYS | {"label_names"} | (RELEASE_KEYS if answers.weights != "pretrained" else frozenset())
    cfg = {
        key: value for key, value in source.items() if key not in left_out and (value is not None or key in KEEP_NULL)
    }
    if list(answers.data_config["input_size"]) != list(source.get("input_size") or ()):
        for key in TEST_KEYS:
            cfg.pop(key, None)
    cfg.update(answers.data_config)
    cfg["num_classes"] = answers.spec.num_classes
    return json_values(cfg)


def json_values(value: Any) -> Any:
    """The value as `config.json` holds it: tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [json_values(item) for item in value]
    if isinstance(value, dict):
        return {key: json_values(item) for key, item in value.items()}
    return value
