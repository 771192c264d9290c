"""The user's answers to the template's variables, checked and parsed once into a typed `Answers`.

`parse(context)` turns cookiecutter's variables (strings) into `Answers`, or raises `AnswerError` with one line that
says what to do. Everything after it (the templates, the export, the card, publishing) takes `Answers`, never the
raw variables. Parsing reads what a timm training checkpoint says about its model (`args` saved by timm's
`train.py`) and builds the architecture on the meta device, so the answers are complete and consistent before
anything is written: model arguments known to the constructor, a label count that fits the head, a data config
for the input the model takes.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import keyword
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template import checkpoints, dependencies, digests

if TYPE_CHECKING:
    from timm_hub_template.introspect import ArchitectureSpec

# The answers cookiecutter's own yes/no prompts accept.
YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off"}
# Names Windows cannot use for a folder; a repo must clone everywhere.
RESERVED_FOLDER_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
# timm's data config keys (timm.data.resolve_data_config) that the `data_config` variable may set.
DATA_CONFIG_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
CROP_MODES = ("center", "squash", "border")
# The dtypes weights can be published in (torch names, as config.json's `dtype` writes them).
DTYPES = ("float32", "bfloat16", "float16")
# The PIL mode of images with this many channels: the image processor converts its inputs to it.
IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Arguments of timm.create_model that are not the architecture's: the template sets them itself.
NOT_MODEL_ARGS = {
    "num_classes": "use the num_labels or labels variable",
    "pretrained": "use the weights variable",
    "pretrained_cfg": "use the architecture's pretrained tag",
    "pretrained_cfg_overlay": "use the data_config variable",
    "checkpoint_path": "use the weights variable",
    "features_only": "the repository always has the features model and, where timm has feature_info, a backbone",
}


class AnswerError(ValueError):
    """An answer the template cannot use, with one line saying what to do."""


@dataclasses.dataclass(frozen=True)
class Answers:
    """The template's variables, checked and typed."""

    architecture: str  # timm name with its pretrained tag when given: "resnet50d" or "resnet50d.ra2_in1k"
    weights: str  # "random", "pretrained" or "checkpoint"
    checkpoint: checkpoints.Checkpoint | None  # the file, the entry published, timm's training args
    num_classes: int | None  # head size: None keeps the architecture's
    labels: tuple[str, ...]  # class names in index order; () leaves Transformers' LABEL_<i>
    labels_source: str  # where the names came from, for the card ("" for none and for ImageNet's own)
    model_args: dict[str, Any]  # keyword arguments of timm.create_model, as JSON
    data_config: dict[str, Any]  # the image processor's timm data config (every key of DATA_CONFIG_KEYS)
    data_config_source: str  # what changed it from the architecture's pretrained config, for the card ("": nothing)
    dtype: str  # of the published weights: one of DTYPES
    repo_name: str
    module_name: str
    class_prefix: str
    hub_owner: str  # "" until publishing asks the token's user
    license: str  # "auto" or a Hub license id
    description: str
    git_init: bool
    push_to_hub: bool
    private: bool
    onnx: bool = False  # also export onnx/model.onnx, checked with onnxruntime against timm's logits

    @property
    def standard_processor_fields(self) -> dict[str, Any]:
        """The standard image-processor fields (`size`, `crop_size`, `resample`, ...) of the data config."""
        from timm_hub_template.processor_fields import standard_fields

        return standard_fields(self.data_config)

    @property
    def spec(self) -> ArchitectureSpec:
        """How timm builds this architecture with these arguments (built once per process and cached)."""
        return _inspect(self.architecture, self.num_classes, json.dumps(self.model_args, sort_keys=True))

    @property
    def repo_id(self) -> str:
        """`owner/name` for the card's snippets; the bare name (also the local folder's name) without an owner."""
        return f"{self.hub_owner}/{self.repo_name}" if self.hub_owner else self.repo_name

    @property
    def has_head(self) -> bool:
        return self.spec.num_classes > 0

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def _inspect(architecture: str, num_classes: int | None, model_args_json: str) -> ArchitectureSpec:
    from timm_hub_template.introspect import inspect_architecture

    return inspect_architecture(architecture, num_classes, model_args_json)


def error(context: dict[str, Any]) -> str:
    """The first problem with the variables, as one line; "" when they parse."""
    try:
        parse(context)
    except AnswerError as problem:
        return str(problem)
    return ""


def parse(context: dict[str, Any]) -> Answers:
    """`Answers` from cookiecutter's variables (parsed once per process for the same variables)."""
    return _parse(json.dumps({key: str(value) for key, value in context.items()}, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _parse(frozen_context: str) -> Answers:
    context = json.loads(frozen_context)
    missing = dependencies.missing()
    if missing:
        raise AnswerError(dependencies.install_hint(missing))
    weights_file = Path(context.get("weights", "").strip()).expanduser()
    if checkpoints.has_supported_suffix(weights_file) and weights_file.is_file():
        digests.start(weights_file)  # the card's SHA-256, hashed on another core while timm is imported
    architecture = _architecture(context.get("architecture", ""))  # the other names derive from it
    repo_name = context.get("repo_name", "")
    _raise(repo_name_error(repo_name))
    for variable in ("module_name", "class_prefix"):
        _raise(_identifier_error(variable, context.get(variable, "")))
    hub_owner, license_id, description = _publishing(context)
    flags = {variable: _yes_no(context, variable) for variable in ("git_init", "push_to_hub", "private", "onnx")}
    absent_for_onnx = dependencies.missing_onnx() if flags["onnx"] else []
    if absent_for_onnx:
        raise AnswerError(dependencies.onnx_install_hint(absent_for_onnx))

    weights, checkpoint = _weights(context, architecture)
    training = checkpoint.training_args if checkpoint else {}
    if training:
        _check_training_model(training, architecture, checkpoint.path)
    model_args = {**checkpoints.model_args_of(training), **_json_object(context, "model_args")}
    default = _inspect(architecture, None, "{}")
    _check_model_args(default, model_args)
    labels, labels_source = _labels(context.get("labels", "").strip())
    if not labels and training.get("class_map"):
        labels, labels_source = _training_class_map(str(training["class_map"]))
    num_classes = _num_classes(context.get("num_labels", "auto"), labels, training, checkpoint, default)
    try:
        spec = _inspect(architecture, num_classes, json.dumps(model_args, sort_keys=True))
    except Exception as problem:  # timm's constructors raise anything for bad arguments
        from timm_hub_template.errors import first_line

        raise AnswerError(
            f"timm.create_model({architecture!r}, **model_args) fails with model_args {json.dumps(model_args)}: "
            f"{type(problem).__name__}: {first_line(problem)}"
        ) from problem
    if not labels:
        labels, labels_source = _imagenet_labels(spec), ""
    training_data, variable_data = checkpoints.data_args_of(training), _data_config_overrides(context)
    sources = [
        ("the `model_args`", any(key in model_args for key in ("img_size", "in_chans"))),
        ("the training checkpoint's `args`", bool(training_data)),
        ("the `data_config` variable", bool(variable_data)),
    ]
    return Answers(
        architecture=architecture,
        weights=weights,
        checkpoint=checkpoint,
        num_classes=num_classes,
        labels=labels,
        labels_source=labels_source,
        model_args=model_args,
        data_config=resolve_data_config(spec, model_args, {**training_data, **variable_data}),
        data_config_source=" and ".join(source for source, used in sources if used),
        dtype=_dtype(context, flags["onnx"]),
        repo_name=repo_name,
        module_name=context.get("module_name", ""),
        class_prefix=context.get("class_prefix", ""),
        hub_owner=hub_owner,
        license=license_id,
        description=description,
        **flags,
    )


def _raise(problem: str) -> None:
    if problem:
        raise AnswerError(problem)


def _architecture(value: str) -> str:
    import timm
    from timm.models import get_arch_pretrained_cfgs, split_model_name_tag

    architecture = value.strip()
    name, tag = split_model_name_tag(architecture)
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
        raise AnswerError(f"unknown timm architecture {architecture!r}{hint}")
    tags = [full.split(".", 1)[1] for full in get_arch_pretrained_cfgs(name) if "." in full]
    if tag and tag not in tags:
        raise AnswerError(f"{name} has no pretrained tag {tag!r}; available tags: {', '.join(tags) or 'none'}")
    return architecture


def repo_name_error(repo_name: str) -> str:
    """Why `repo_name` is not a safe folder and Hub repository name, or ""."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not repo_name or repo_name in (".", "..") or "/" in repo_name or "\\" in repo_name:
        return f"repo_name {repo_name!r} must be a single folder name, without '/', '\\' or '..'"
    if repo_name.split(".")[0].lower() in RESERVED_FOLDER_NAMES:
        return f"repo_name {repo_name!r} is a reserved device name on Windows; choose another"
    try:
        validate_repo_id(repo_name)
    except HFValidationError as problem:
        return f"repo_name {repo_name!r} is not a valid Hub repository name: {str(problem).splitlines()[0]}"
    return ""


def _identifier_error(variable: str, value: str) -> str:
    if not value.isidentifier() or not value.isascii() or keyword.iskeyword(value):
        return f"{variable} {value!r} must be a Python identifier (ASCII letters, digits, '_'), not a keyword"
    return ""


def _publishing(context: dict[str, str]) -> tuple[str, str, str]:
    owner = context.get("hub_owner", "").strip()
    if owner and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?", owner):
        raise AnswerError(
            f"hub_owner {owner!r} must be a Hub user or organisation name (letters, digits, '-', '_', '.'), or empty"
        )
    license_id = context.get("license", "auto").strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", license_id):
        raise AnswerError(
            f"license {license_id!r} must be 'auto' or a Hub license id in lower case, like 'apache-2.0', 'mit' or 'other'"
        )
    description = context.get("description", "")
    if len(description) > 300 or not description.isprintable():
        raise AnswerError("description must be one line of at most 300 printable characters")
    return owner, license_id, description.strip()


def _choice(context: dict[str, str], variable: str, choices: tuple[str, ...], default: str) -> str:
    value = context.get(variable, default).strip()
    if value not in choices:
        raise AnswerError(f"{variable} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _dtype(context: dict[str, str], onnx: bool) -> str:
    dtype = _choice(context, "dtype", DTYPES, "float32")
    if onnx and dtype != "float32":
        raise AnswerError(f"onnx=yes exports and checks the float32 graph: use dtype=float32 (not {dtype}) with it")
    return dtype


def _yes_no(context: dict[str, str], variable: str) -> bool:
    value = context.get(variable, "no").strip().lower()
    if value not in YES | NO:
        raise AnswerError(f"{variable} must be yes or no, not {context[variable]!r}")
    return value in YES


def _weights(context: dict[str, str], architecture: str) -> tuple[str, checkpoints.Checkpoint | None]:
    weights = context.get("weights", "pretrained").strip()
    key = context.get("checkpoint_key", "auto").strip()
    if key not in checkpoints.KEY_CHOICES:
        raise AnswerError(f"checkpoint_key {key!r} must be one of {', '.join(checkpoints.KEY_CHOICES)}")
    if weights == "random":
        return "random", None
    if weights == "pretrained":
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(architecture)
        if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
            raise AnswerError(
                f"timm has no pretrained weights for {architecture}: use weights=random or a checkpoint path"
            )
        return "pretrained", None
    try:
        return "checkpoint", checkpoints.inspect_file(Path(weights).expanduser(), key)
    except checkpoints.CheckpointError as problem:
        raise AnswerError(str(problem)) from problem


def _check_training_model(training: dict[str, Any], architecture: str, path: Path) -> None:
    """A training checkpoint of another architecture is refused: its weights cannot fit."""
    from timm.models import split_model_name_tag

    trained = str(training.get("model") or "")
    if trained and split_model_name_tag(trained)[0] != split_model_name_tag(architecture)[0]:
        raise AnswerError(
            f"checkpoint {path.name} was trained as {trained} (its args.model), not {architecture}: "
            f"use architecture={split_model_name_tag(trained)[0]}"
        )


def _json_object(context: dict[str, str], variable: str) -> dict[str, Any]:
    text = context.get(variable, "").strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as problem:
        raise AnswerError(f"{variable} must be a JSON object like '{{\"img_size\": 384}}': {problem}") from problem
    if not isinstance(value, dict):
        raise AnswerError(f"{variable} must be a JSON object like '{{\"img_size\": 384}}', not {text!r}")
    return value


def _check_model_args(spec: ArchitectureSpec, model_args: dict[str, Any]) -> None:
    """Names the constructor takes, with values of the type its field holds (timm checks the rest)."""
    from timm_hub_template.introspect import Kind

    for name, value in model_args.items():
        if name in NOT_MODEL_ARGS:
            raise AnswerError(f"model_args cannot set {name}: {NOT_MODEL_ARGS[name]}")
    fields = {field.argument_name: field for field in spec.fields}
    valid = sorted(fields) if spec.explicit else constructor_parameters(spec)
    for name, value in model_args.items():
        if name not in valid:
            raise AnswerError(
                f"model_args: {name!r} is not an argument of timm's {spec.model_class} ({spec.name}); "
                f"valid: {', '.join(valid)}"
            )
        field = fields.get(name)
        if field is not None and field.kind is Kind.PLAIN and not _same_json_type(value, field.value):
            raise AnswerError(
                f"model_args: {name} must be {_json_type(field.value)} like {json.dumps(field.value)}, "
                f"not {json.dumps(value)}"
            )


def constructor_parameters(spec: ArchitectureSpec) -> list[str]:
    """The named parameters of timm's class, for architectures whose fields are not explicit."""
    import importlib
    import inspect

    model_class = getattr(importlib.import_module(spec.model_module), spec.model_class)
    parameters = inspect.signature(model_class.__init__).parameters.values()
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return sorted(p.name for p in parameters if p.kind in plain and p.name not in ("self", "num_classes"))


def _same_json_type(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    sizes = (int, list, tuple)  # timm sizes: 384 or (384, 288)
    if isinstance(default, sizes) and isinstance(value, sizes) and _all_ints(default) and _all_ints(value):
        return True
    return _json_type(value) == _json_type(default)


def _all_ints(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(item, int) and not isinstance(item, bool) for item in items)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _labels(value: str) -> tuple[tuple[str, ...], str]:
    """Class names from a comma-separated list, or from a file: one per line, a JSON list or index-to-name map."""
    if not value:
        return (), ""
    path = Path(value).expanduser()
    if path.is_file():
        return _check_names(read_label_file(path), f"labels file {path.name}"), f"`{path.name}`"
    if path.suffix.lower() in (".txt", ".json") and "," not in value:
        raise AnswerError(f"labels file {value!r} does not exist")
    return _check_names(tuple(name.strip() for name in value.split(",")), "labels"), "the `labels` variable"


def read_label_file(path: Path) -> tuple[str, ...]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() != ".json":
        return tuple(line.strip() for line in text.splitlines() if line.strip())  # timm's --class-map format
    try:
        value = json.loads(text)
    except json.JSONDecodeError as problem:
        raise AnswerError(f"labels file {path.name} is not valid JSON: {problem}") from problem
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(value)
    if isinstance(value, dict) and all(str(index).isdigit() for index in value):
        names = {int(index): str(name) for index, name in value.items()}
        if sorted(names) != list(range(len(names))):
            raise AnswerError(f"labels file {path.name} must map every index from 0 to {len(names) - 1} to a name")
        return tuple(names[index] for index in range(len(names)))
    raise AnswerError(f"labels file {path.name} must hold a JSON list of names or an index-to-name object")


def _check_names(names: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not names or not all(names):
        raise AnswerError(f"{what}: every class needs a non-empty name")
    if not all(name.isprintable() for name in names):
        raise AnswerError(f"{what}: class names must be printable one-line text")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise AnswerError(f"{what}: class names must be unique; repeated: {', '.join(repeated[:5])}")
    return names


def _training_class_map(path: str) -> tuple[tuple[str, ...], str]:
    """The class map timm's `train.py` trained with (`--class-map`), when the file is still there."""
    file = Path(path).expanduser()
    if not file.is_file():
        return (), ""
    return _check_names(read_label_file(file), f"class map {file.name}"), f"`{file.name}` (the training class map)"


def _num_classes(
    value: str,
    labels: tuple[str, ...],
    training: dict[str, Any],
    checkpoint: checkpoints.Checkpoint | None,
    default: ArchitectureSpec,
) -> int | None:
    """The head size the answers ask for, checked against the labels and the checkpoint's classifier."""
    value = value.strip()
    if value != "auto" and not (value.isdigit() and int(value) <= 1_000_000):
        raise AnswerError(
            f"num_labels {value!r} must be 'auto' (the architecture's head) or a whole number from 0 to 1000000"
        )
    asked = None if value == "auto" else int(value)
    if labels and asked is not None and asked != len(labels):
        raise AnswerError(f"num_labels is {asked} but {len(labels)} labels were given: give one name per class")
    if labels:
        asked = len(labels)
    head = checkpoint.head_size(default) if checkpoint else None
    if head is not None and asked is not None and asked not in (head, 0):
        given = f"{len(labels)} labels were given" if labels else f"num_labels is {asked}"
        raise AnswerError(f"the checkpoint's classifier has {head} classes but {given}: give one name per class")
    if asked is None and training.get("num_classes") is not None:
        asked = int(training["num_classes"])
    if asked is None and head is not None and head != default.num_classes:
        asked = head  # a fine-tuned head: publish it at its own size
    return asked


def _imagenet_labels(spec: ArchitectureSpec) -> tuple[str, ...]:
    """ImageNet's class descriptions when the head is the one of timm's ImageNet weights (timm's ImageNetInfo)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    if spec.num_classes != spec.pretrained_cfg.get("num_classes"):
        return ()
    subset = infer_imagenet_subset(spec.pretrained_cfg)
    return tuple(ImageNetInfo(subset).label_descriptions()) if subset else ()


def _data_config_overrides(context: dict[str, str]) -> dict[str, Any]:
    overrides = _json_object(context, "data_config")
    for key, value in overrides.items():
        problem = _data_value_error(key, value)
        if problem:
            raise AnswerError(f"data_config: {problem}")
    return overrides


def _data_value_error(key: str, value: Any) -> str:
    numbers = (
        isinstance(value, list)
        and value
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    )
    if key not in DATA_CONFIG_KEYS:
        return f"unknown key {key!r}; valid: {', '.join(DATA_CONFIG_KEYS)}"
    if key == "input_size" and not (
        isinstance(value, list) and len(value) == 3 and all(isinstance(x, int) and x > 0 for x in value)
    ):
        return f"input_size must be [channels, height, width], like [3, 384, 384], not {json.dumps(value)}"
    if key in ("mean", "std") and not numbers:
        return f"{key} must be a list of numbers, one per channel (or one for all), not {json.dumps(value)}"
    if key == "std" and any(x <= 0 for x in value):
        return f"std must be positive, not {json.dumps(value)}"
    if key == "interpolation" and value not in INTERPOLATIONS:
        return f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {json.dumps(value)}"
    if key == "crop_pct" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 2):
        return f"crop_pct must be a number in (0, 2], like 0.875, not {json.dumps(value)}"
    if key == "crop_mode" and value not in CROP_MODES:
        return f"crop_mode must be one of {', '.join(CROP_MODES)}, not {json.dumps(value)}"
    return ""


def resolve_data_config(
    spec: ArchitectureSpec, model_args: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """timm's data config for the model the answers describe.

    timm's `resolve_data_config` on the architecture's pretrained config, with the overrides (the training
    args' data settings, then the `data_config` variable) and the model's input: `input_size` follows the
    `img_size` and `in_chans` model arguments unless set, and mean/std are adapted to the channel count as timm's
    loader does (`adapt_to_chs`: their average for other channel counts).
    """
    from timm.data import resolve_data_config as timm_resolve
    from timm.data.loader import adapt_to_chs

    in_chans = int(model_args.get("in_chans", spec.in_chans))
    if in_chans not in IMAGE_MODES:
        raise AnswerError(f"in_chans {in_chans}: images have 1 (L), 3 (RGB) or 4 (RGBA) channels")
    for key in ("mean", "std"):  # timm asserts this; say it in one line instead
        if key in overrides and len(overrides[key]) not in (1, in_chans):
            raise AnswerError(f"data_config: {key} needs 1 or {in_chans} values for {in_chans} input channels")
    args = {"in_chans": in_chans, **overrides}
    if "input_size" not in overrides:
        img_size = model_args.get("img_size", overrides.get("img_size"))
        if isinstance(img_size, int):
            args["img_size"] = img_size
        elif isinstance(img_size, (list, tuple)) and len(img_size) == 2:
            args["input_size"] = (in_chans, *img_size)
    config = timm_resolve(args, pretrained_cfg=spec.pretrained_cfg)
    channels = int(config["input_size"][0])
    if channels != in_chans:
        if "input_size" in overrides:
            raise AnswerError(
                f"data_config: input_size has {channels} channels but the model takes {in_chans} (in_chans)"
            )
        config["input_size"] = (in_chans, *config["input_size"][1:])
    for key in ("mean", "std"):
        values = tuple(config[key])
        config[key] = values if len(values) == in_chans else tuple(adapt_to_chs(values, in_chans))
    return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}
