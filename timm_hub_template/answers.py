"""The user's answers to the template's variables, checked and parsed once into a typed `Answers`.

`parse(context)` turns cookiecutter's variables (strings) into `Answers`, or raises `AnswerError` with one line that
says what to do. Everything after it (the templates, the export, the card, publishing) takes `Answers`, never the
raw variables. Parsing reads what a timm training checkpoint says about its model (`args` saved by timm's
`train.py`) and builds the architecture on the meta device, so the answers are complete and consistent before
anything is written: model arguments known to the constructor, a label count that fits the head, a data config
for the input the model takes.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import functools
import json
import keyword
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template import checkpoints, dependencies, digests
from timm_hub_template.errors import printable
from timm_hub_template.meta_build import on_meta_device

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

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
    labels_source: str  # where the names came from, for the card and the summary ("" for none and ImageNet's own)
    model_args: dict[str, Any]  # keyword arguments of timm.create_model, as JSON
    data_config: dict[str, Any]  # the image processor's timm data config (every key of DATA_CONFIG_KEYS)
    data_config_source: str  # what changed it from the architecture's pretrained config, for the card ("": nothing)
    dtype: str  # of the published weights: one of DTYPES
    dtype_source: str  # why that dtype, for the card: "" (asked for), "the checkpoint's", "the default"
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
    push_timeout: float = 60.0  # seconds the push waits for any one answer of the Hub
    warnings: tuple[str, ...] = ()  # what the run decided on its own that the user should know (one line each)
    labels_file: Path | None = None  # the file the class names were read from (absolute), for the summary

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
    from timm_hub_template.introspection import inspect_architecture

    return inspect_architecture(architecture, num_classes, model_args_json)


def error(context: dict[str, Any], base_dir: Path | None = None) -> str:
    """The first problem with the variables, as one line; "" when they parse. Nothing else escapes: an
    unexpected failure while parsing is reported as one line too."""
    try:
        parse(context, base_dir)
    except AnswerError as problem:
        return printable(str(problem))
    except Exception as problem:  # noqa: BLE001 - any input the checks did not foresee is still one line
        from timm_hub_template.errors import first_line

        return printable(f"the answers could not be read: {type(problem).__name__}: {first_line(problem)}")
    return ""


def parse(context: dict[str, Any], base_dir: Path | None = None) -> Answers:
    """`Answers` from cookiecutter's variables (parsed once per run for the same variables); relative paths
    are resolved against `base_dir`, the folder the user ran the template from (default: the working directory)."""
    frozen = json.dumps({key: str(value) for key, value in context.items()}, sort_keys=True)
    return _parse(frozen, str((base_dir or Path.cwd()).resolve()))


def clear_cache() -> None:
    """Forget the parsed answers: a later run reads its files (labels, checkpoint) again. A run clears it when it
    begins and ends (`cookiecutter_run`)."""
    _parse.cache_clear()


@functools.lru_cache(maxsize=32)
def _parse(frozen_context: str, base_dir: str) -> Answers:
    context = json.loads(frozen_context)
    base = Path(base_dir)
    missing = dependencies.missing()
    if missing:
        raise AnswerError(dependencies.install_hint(missing))
    weights_file = resolve_user_path(context.get("weights", "").strip(), base)
    if checkpoints.has_supported_suffix(weights_file) and weights_file.is_file():
        digests.start(weights_file)  # the card's SHA-256, hashed on another core while timm is imported
    # The answers that do not depend on one another are all checked, and all their problems said together.
    problems: list[str] = []

    def collect(read: Any, default: Any) -> Any:
        try:
            return read()
        except AnswerError as problem:
            problems.append(str(problem))
            return default

    repo_name = context.get("repo_name", "")
    names = (
        repo_name_error(repo_name),
        *(_identifier_error(v, context.get(v, "")) for v in ("module_name", "class_prefix")),
    )
    problems += [problem for problem in names if problem]
    hub_owner, license_id, description = collect(lambda: _publishing(context), ("", "", ""))
    flags = {
        variable: collect(lambda variable=variable: _yes_no(context, variable), False)
        for variable in ("git_init", "push_to_hub", "private", "onnx")
    }
    push_timeout = collect(lambda: _push_timeout(context), 60.0)
    absent_for_onnx = dependencies.missing_onnx() if flags["onnx"] else []
    if absent_for_onnx:
        problems.append(dependencies.onnx_install_hint(absent_for_onnx))
    try:
        answers = _parse_weights_and_model(context, base, flags, hub_owner, license_id, description, push_timeout)
    except AnswerError as problem:
        problems.append(str(problem))
    if len(problems) > 1:
        raise AnswerError(f"{len(problems)} answers are wrong: {'; '.join(problems)}")
    if problems:
        raise AnswerError(problems[0])
    return answers


def _parse_weights_and_model(
    context: dict[str, str],
    base: Path,
    flags: dict[str, bool],
    hub_owner: str,
    license_id: str,
    description: str,
    push_timeout: float,
) -> Answers:
    """The answers that follow from the architecture and the weights: each check needs the ones before it."""
    architecture = checked_architecture(context.get("architecture", ""))  # the other names derive from it
    _check_modules_cache()

    weights, checkpoint = _weights(context, architecture, base)
    training = checkpoint.training_args if checkpoint else {}
    if training:
        _raise(checkpoints.training_args_error(training, checkpoint.path.name))
        architecture = _trained_architecture(training, architecture, checkpoint.path)
    model_args = {**checkpoints.model_args_of(training), **_json_object(context, "model_args")}
    if weights != "pretrained":
        model_args = {**pretrained_only_defaults(architecture), **model_args}
    default = _inspect(architecture, None, "{}")
    _check_model_args(default, model_args, architecture)
    labels, labels_source, labels_file = _labels(context.get("labels", "").strip(), base)
    warnings: list[str] = []
    head = checkpoint.head_size(default) if checkpoint else None
    if not labels and training.get("class_map"):
        trained_head = head if head is not None else training.get("num_classes")
        labels, labels_source, labels_file, warning = class_map_labels(training, trained_head, base)
        warnings += [warning] if warning else []
    num_classes = _num_classes(context.get("num_labels", "auto"), labels, training, head, default)
    if num_classes and not default.pools:
        raise AnswerError(
            f"{architecture} is an encoder without a classifier (timm's forward_head refuses): publish its features "
            "with num_labels=0 and no labels"
        )
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
    dtype, dtype_source = _dtype(context, flags["onnx"], checkpoint)
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
        dtype=dtype,
        dtype_source=dtype_source,
        repo_name=context.get("repo_name", ""),
        module_name=context.get("module_name", ""),
        class_prefix=context.get("class_prefix", ""),
        hub_owner=hub_owner,
        license=license_id,
        description=description,
        push_timeout=push_timeout,
        warnings=tuple(warnings),
        labels_file=labels_file,
        **flags,
    )


# What a timm entrypoint sets only when `pretrained=True` (fbnetc_100: `kwargs.setdefault('bn_eps', 1e-3)` for its
# TF-trained weights), at the value the entrypoint builds with otherwise (torch's BatchNorm default). A repository of
# other weights states it in its model arguments, or `timm.create_model("hf-hub:...", pretrained=True)` would build
# the pretrained variant.
WITHOUT_PRETRAINED = {"bn_eps": 1e-5}


def pretrained_only_defaults(architecture: str) -> dict[str, Any]:
    """The `WITHOUT_PRETRAINED` arguments the architecture's entrypoint sets under `if pretrained:`."""
    import inspect

    from timm.models import model_entrypoint, split_model_name_tag

    source = inspect.getsource(model_entrypoint(split_model_name_tag(architecture)[0]))
    names = re.findall(r"if pretrained:\s*(?:#[^\n]*\n\s*)*kwargs\.setdefault\(['\"](\w+)['\"]", source)
    return {name: WITHOUT_PRETRAINED[name] for name in names if name in WITHOUT_PRETRAINED}


def resolve_user_path(value: str, base_dir: Path) -> Path:
    """A path the user typed: `~` expanded, and relative to the folder they ran the template from."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _raise(problem: str) -> None:
    if problem:
        raise AnswerError(problem)


def checked_architecture(value: str) -> str:
    """The architecture answer as timm names it, or `AnswerError` with the names it may have meant."""
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
    # The Hub's own rule (huggingface_hub's validate_repo_id): no '--' or '..' in a name.
    if owner and (
        not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9])?", owner) or "--" in owner or ".." in owner
    ):
        raise AnswerError(
            f"hub_owner {owner!r} must be a Hub user or organisation name (letters, digits, '-', '_', '.', without "
            "'--' or '..'), or empty"
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


def _dtype(context: dict[str, str], onnx: bool, checkpoint: checkpoints.Checkpoint | None) -> tuple[str, str]:
    """The published dtype and where it came from: asked for, `auto`'s choice of the checkpoint's floating dtype
    (a `--model-dtype bfloat16` run stays bf16), or float32 (timm's own weights and random ones; ONNX)."""
    dtype = _choice(context, "dtype", ("auto", *DTYPES), "auto")
    if onnx and dtype not in ("auto", "float32"):
        raise AnswerError(f"onnx=yes exports and checks the float32 graph: use dtype=float32 (not {dtype}) with it")
    if dtype != "auto":
        return dtype, ""
    stored = checkpoint.floating_dtype if checkpoint else None
    if onnx or stored not in DTYPES:
        return "float32", "the default"
    return stored, "the checkpoint's"


def _push_timeout(context: dict[str, str]) -> float:
    value = context.get("push_timeout", "60").strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and 1 <= seconds <= 86400):
        raise AnswerError(f"push_timeout must be a number of seconds from 1 to 86400, like 60, not {value!r}")
    return seconds


def _check_modules_cache() -> None:
    """The verification loads the generated code through Transformers' modules cache: it must be writable before
    any work is done (else the run would fail only at the end)."""
    import tempfile

    from transformers.utils import HF_MODULES_CACHE

    try:
        Path(HF_MODULES_CACHE).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=HF_MODULES_CACHE):
            pass
    except OSError as problem:
        raise AnswerError(
            f"Transformers' modules cache {HF_MODULES_CACHE} is not writable ({problem.strerror}): set "
            "HF_MODULES_CACHE (or HF_HOME) to a writable folder"
        ) from problem


def _yes_no(context: dict[str, str], variable: str) -> bool:
    value = context.get(variable, "no").strip().lower()
    if value not in YES | NO:
        raise AnswerError(f"{variable} must be yes or no, not {context[variable]!r}")
    return value in YES


def _weights(context: dict[str, str], architecture: str, base_dir: Path) -> tuple[str, checkpoints.Checkpoint | None]:
    weights = context.get("weights", "pretrained").strip()
    key = context.get("checkpoint_key", "auto").strip()
    if key not in checkpoints.KEY_CHOICES:
        raise AnswerError(f"checkpoint_key {key!r} must be one of {', '.join(checkpoints.KEY_CHOICES)}")
    kind = weights_kind(weights, architecture, base_dir)
    if kind != "checkpoint":
        return kind, None
    try:
        return "checkpoint", checkpoints.inspect_file(resolve_user_path(weights, base_dir), key)
    except checkpoints.CheckpointError as problem:
        raise AnswerError(str(problem)) from problem


def weights_kind(weights: str, architecture: str, base_dir: Path) -> str:
    """ "random", "pretrained" or "checkpoint", from the checks that need no reading of the weights (timm has
    pretrained weights for the architecture and can fetch them, the checkpoint file exists), else `AnswerError`."""
    weights = weights.strip()
    if weights == "random":
        return "random"
    if weights == "pretrained":
        from timm.models import get_pretrained_cfg

        from timm_hub_template.weights import pretrained_unreachable

        cfg = get_pretrained_cfg(architecture)
        if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
            raise AnswerError(
                f"timm has no pretrained weights for {architecture}: use weights=random or a checkpoint path"
            )
        unreachable = pretrained_unreachable(cfg.hf_hub_id, cfg.hf_hub_filename)
        if unreachable:
            raise AnswerError(
                f"weights=pretrained needs timm's weights of {architecture} from the Hub, but {unreachable}: "
                "go online, or pass weights=random or weights=<path to a checkpoint>"
            )
        return "pretrained"
    path = resolve_user_path(weights, base_dir)
    if not checkpoints.has_supported_suffix(path):
        suffixes = ", ".join(checkpoints.SUFFIXES)
        raise AnswerError(
            f"weights {weights!r} must be 'pretrained', 'random' or a checkpoint file ending in {suffixes}"
        )
    if not path.exists():
        raise AnswerError(f"weights file {weights!r} does not exist (looked for {path})")
    return "checkpoint"


def _trained_architecture(training: dict[str, Any], architecture: str, path: Path) -> str:
    """The architecture as the run built it: a training checkpoint of another architecture is refused (its weights
    cannot fit), and the run's pretrained tag (`--model resnet18.tv_in1k`) is kept, since it chose the data config
    `train.py` evaluated with; a different tag is refused."""
    from timm.models import split_model_name_tag

    trained = str(training.get("model") or "")
    if not trained:
        return architecture
    (trained_name, trained_tag), (name, tag) = split_model_name_tag(trained), split_model_name_tag(architecture)
    if trained_name != name:
        raise AnswerError(
            f"checkpoint {path.name} was trained as {trained} (its args.model), not {architecture}: "
            f"use architecture={trained_name}"
        )
    if tag and trained_tag and tag != trained_tag:
        raise AnswerError(
            f"checkpoint {path.name} was trained as {trained} (its args.model): its preprocessing is that tag's; "
            f"use architecture={name} or architecture={trained}, not {architecture}"
        )
    return checked_architecture(trained) if trained_tag and not tag else architecture


# Deeper nesting than any timm argument needs (block definitions are 3 levels) is refused before it is walked.
MAX_JSON_DEPTH = 16


def _json_object(context: dict[str, str], variable: str) -> dict[str, Any]:
    text = context.get(variable, "").strip() or "{}"
    example = "'{\"img_size\": 384}'"
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite_float)
    except (json.JSONDecodeError, ValueError) as problem:
        raise AnswerError(f"{variable} must be a JSON object like {example}: {problem}") from problem
    except RecursionError as problem:
        raise AnswerError(f"{variable} is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from problem
    if not isinstance(value, dict):
        raise AnswerError(f"{variable} must be a JSON object like {example}, not {text[:80]!r}")
    if _depth(value) > MAX_JSON_DEPTH:
        raise AnswerError(f"{variable} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows: use a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float: use a finite number")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending += [(child, depth + 1) for child in children]
    return deepest


def _check_model_args(spec: ArchitectureSpec, model_args: dict[str, Any], architecture: str) -> None:
    """Names `timm.create_model(architecture, ...)` takes, with values of the type the constructor's field holds
    (timm checks the rest). Besides the constructor's arguments, the architecture's own function may take more
    (`bn_eps`, `bn_momentum` of the generator-built families, as `train.py` passes them): those are asked of timm."""
    from timm_hub_template.introspection import Kind

    for name, value in model_args.items():
        if name in NOT_MODEL_ARGS:
            raise AnswerError(f"model_args cannot set {name}: {NOT_MODEL_ARGS[name]}")
    # Generator fields (`arch_def`, `channel_multiplier` ...) are not constructor arguments: timm's function takes
    # them, or refuses them (asked of timm below); the arguments they build are.
    fields = {field.argument_name: field for field in spec.fields if field.kind is not Kind.GENERATOR}
    valid = sorted({*fields, *spec.generator_arguments}) if spec.explicit else constructor_parameters(spec)
    for name, value in model_args.items():
        if name not in valid and not _factory_accepts(architecture, name, value):
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


def _factory_accepts(architecture: str, name: str, value: Any) -> bool:
    """Whether `timm.create_model(architecture, name=value)` gets past its keyword arguments (on the meta device);
    any other failure is left for the full build to report."""
    import timm

    try:
        with on_meta_device():
            timm.create_model(architecture, pretrained=False, **{name: value})
    except TypeError as problem:
        return "unexpected keyword argument" not in str(problem) and "got multiple values" not in str(problem)
    except Exception:  # noqa: BLE001 - a bad value, not an unknown name: the full build reports it
        return True
    return True


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


# A label list that names a file: path separators or a file suffix (`classes.txt`, `labels.json`, `names.csv`).
_LOOKS_LIKE_PATH = re.compile(r"[/\\]|\.[A-Za-z][A-Za-z0-9]{0,4}$")
# The most a labels file may hold: 100,000 classes of long names.
MAX_LABELS_FILE_BYTES = 64 * 1024 * 1024


def _labels(value: str, base_dir: Path) -> tuple[tuple[str, ...], str, Path | None]:
    """Class names from a comma-separated list, or from a file: one per line, a JSON list or index-to-name map.

    A value that names a file (a path separator or a file suffix, no comma) must be an existing regular file: a
    mistyped name or a pipe never becomes a class name."""
    if not value:
        return (), "", None
    path = resolve_user_path(value, base_dir)
    looks_like_path = "," not in value and _LOOKS_LIKE_PATH.search(value)
    if looks_like_path or path.is_file():
        if not path.exists():
            raise AnswerError(
                f"labels file {value!r} does not exist (looked for {path}); for class names, separate them with commas"
            )
        if not path.is_file():
            raise AnswerError(f"labels {value!r} is not a regular file ({path}): save the names to a file")
        if path.stat().st_size > MAX_LABELS_FILE_BYTES:
            raise AnswerError(f"labels file {path} is larger than {MAX_LABELS_FILE_BYTES >> 20} MiB")
        return _check_names(read_label_file(path), f"labels file {path.name}"), f"`{path.name}`", path.resolve()
    return _check_names(tuple(name.strip() for name in value.split(",")), "labels"), "the `labels` variable", None


def read_label_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark (Windows editors) is no part of a name
    except UnicodeDecodeError as problem:
        raise AnswerError(
            f"labels file {path.name} is not UTF-8 text ({problem.reason} at byte {problem.start})"
        ) from problem
    except OSError as problem:
        raise AnswerError(f"labels file {path.name} cannot be read: {problem.strerror}") from problem
    if path.suffix.lower() != ".json":
        # timm's --class-map format, as timm reads it (a text file's lines): split at \n, \r\n and \r only, not
        # at the other characters str.splitlines() takes (U+2028, a vertical tab), which stay in the name.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return tuple(line.strip() for line in lines if line.strip())
    try:
        value = json.loads(text, parse_constant=_not_a_number)
    except (json.JSONDecodeError, ValueError, RecursionError) as problem:
        raise AnswerError(f"labels file {path.name} is not valid JSON: {type(problem).__name__}") from problem
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(value)
    if isinstance(value, dict) and all(re.fullmatch(r"[0-9]+", str(index)) for index in value):
        names = {int(index): name for index, name in value.items()}
        if sorted(names) != list(range(len(names))) or not all(isinstance(name, str) for name in names.values()):
            raise AnswerError(f"labels file {path.name} must map every index from 0 to {len(names) - 1} to a name")
        return tuple(names[index] for index in range(len(names)))
    raise AnswerError(f"labels file {path.name} must hold a JSON list of names or an index-to-name object")


def _check_names(names: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not names or not all(names):
        raise AnswerError(f"{what}: every class needs a non-empty name")
    if not all(name.isprintable() for name in names):
        raise AnswerError(f"{what}: class names must be printable one-line text")
    counts = collections.Counter(names)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise AnswerError(f"{what}: class names must be unique; repeated: {', '.join(repeated[:5])}")
    return names


def class_map_labels(
    training: dict[str, Any], head_size: int | None, base_dir: Path
) -> tuple[tuple[str, ...], str, Path | None, str]:
    """The class names of the checkpoint's `--class-map`, found as timm's `load_class_map` finds it (the path as
    given, then under the run's `--data-dir`), when it is safe to read: (names, source, file, warning).

    The checkpoint is data from whoever sent it, and the names it points at are published: a file it names is read
    only when it lies in the folder the template was run from or in the run's data folder, outside hidden and
    system folders, is a `.txt` class map no larger than one of the head's size, and has one line per class of the
    head. Otherwise nothing is read, and the warning says which file and how to pass the names."""
    from timm_hub_template import untrusted_paths

    named = str(training["class_map"])
    found = untrusted_paths.find_class_map(
        named, training.get("data_dir") or training.get("data"), base_dir, head_size
    )
    if found.problem:
        return (
            (),
            "",
            None,
            (
                f"the checkpoint's class map {named!r} was not read ({found.problem}): the classes are unnamed; "
                "pass labels=<file> to name them"
            ),
        )
    try:
        names = _check_names(read_label_file(found.path), f"class map {found.path.name}")
    except AnswerError as problem:
        return (), "", None, f"the checkpoint's class map {named!r} was not used ({problem}); pass labels=<file>"
    if head_size is not None and len(names) != head_size:
        return (
            (),
            "",
            None,
            (
                f"the checkpoint's class map {named!r} has {len(names)} names for a head of {head_size} classes: not "
                "used; pass labels=<file> to name the classes"
            ),
        )
    return names, f"`{found.path.name}` (the training class map)", found.path, ""


def _num_classes(
    value: str,
    labels: tuple[str, ...],
    training: dict[str, Any],
    head: int | None,
    default: ArchitectureSpec,
) -> int | None:
    """The head size the answers ask for, checked against the labels and the checkpoint's classifier (`head`)."""
    value = value.strip()
    if value != "auto" and not (re.fullmatch(r"[0-9]{1,7}", value) and int(value) <= 1_000_000):
        raise AnswerError(
            f"num_labels {value!r} must be 'auto' (the architecture's head) or a whole number from 0 to 1000000"
        )
    asked = None if value == "auto" else int(value)
    if labels and asked is not None and asked != len(labels):
        raise AnswerError(f"num_labels is {asked} but {len(labels)} labels were given: give one name per class")
    if labels:
        asked = len(labels)
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
