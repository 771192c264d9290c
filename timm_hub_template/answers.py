"""The user's answers to the template's variables, checked and parsed once into a typed `Answers`.

`parse(context)` turns cookiecutter's variables (strings) into `Answers`, or raises `AnswerError` with one line that
says what to do. Everything after it (the templates, the export, the card, publishing) takes `Answers`, never the
raw variables. Parsing reads what a timm training checkpoint says about its model (`args` saved by timm's
`train.py`) and builds the architecture on the meta device, so the answers are complete and consistent before
anything is written: model arguments known to the constructor (`model_args`), class names from the answer or the
checkpoint's class map (`labels`) and a label count that fits the head, a data config for the input the model
takes (`data_config`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import keyword
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template import checkpoints, dependencies
from timm_hub_template.data_config import checked_overrides, resolve_data_config
from timm_hub_template.errors import AnswerError, first_line, printable
from timm_hub_template.labels import class_map_labels, imagenet_labels, read_labels
from timm_hub_template.model_args import check_model_args, pretrained_only_defaults
from timm_hub_template.user_input import json_object, resolve_user_path

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

# The answers cookiecutter's own yes/no prompts accept.
YES = {"yes", "y", "true", "1", "on"}
NO = {"no", "n", "false", "0", "off"}
# Names Windows cannot use for a folder; a repo must clone everywhere.
RESERVED_FOLDER_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
# The dtypes weights can be published in (torch names, as config.json's `dtype` writes them).
DTYPES = ("float32", "bfloat16", "float16")


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
    data_config: dict[str, Any]  # the image processor's timm data config (every key of data_config.DATA_CONFIG_KEYS)
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


def error(context: dict[str, Any], invocation_dir: Path | None = None) -> str:
    """The first problem with the variables, as one line; "" when they parse. Nothing else escapes: an
    unexpected failure while parsing is reported as one line too."""
    try:
        parse(context, invocation_dir)
    except AnswerError as problem:
        return printable(str(problem))
    except Exception as problem:  # noqa: BLE001 - any input the checks did not foresee is still one line
        return printable(f"the answers could not be read: {type(problem).__name__}: {first_line(problem)}")
    return ""


def parse(context: dict[str, Any], invocation_dir: Path | None = None) -> Answers:
    """`Answers` from cookiecutter's variables (parsed once per run for the same variables); relative paths
    are resolved against `invocation_dir`, the folder the user ran the template from (default: the working
    directory)."""
    frozen = json.dumps({key: str(value) for key, value in context.items()}, sort_keys=True)
    return _parse(frozen, str((invocation_dir or Path.cwd()).resolve()))


def clear_cache() -> None:
    """Forget the parsed answers: a later run reads its files (labels, checkpoint) again. A run clears it when it
    begins and ends (`cookiecutter_run`)."""
    _parse.cache_clear()


@functools.lru_cache(maxsize=32)
def _parse(frozen_context: str, invocation_folder: str) -> Answers:
    context = json.loads(frozen_context)
    invocation_dir = Path(invocation_folder)
    missing = dependencies.missing()
    if missing:
        raise AnswerError(dependencies.install_hint(missing))
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
        answers = _parse_weights_and_model(
            context, invocation_dir, flags, hub_owner, license_id, description, push_timeout
        )
    except AnswerError as problem:
        problems.append(str(problem))
    if len(problems) > 1:
        raise AnswerError(f"{len(problems)} answers are wrong: {'; '.join(problems)}")
    if problems:
        raise AnswerError(problems[0])
    return answers


def _parse_weights_and_model(
    context: dict[str, str],
    invocation_dir: Path,
    flags: dict[str, bool],
    hub_owner: str,
    license_id: str,
    description: str,
    push_timeout: float,
) -> Answers:
    """The answers that follow from the architecture and the weights: each check needs the ones before it."""
    architecture = checked_architecture(context.get("architecture", ""))  # the other names derive from it
    _check_modules_cache()

    weights, checkpoint = _weights(context, architecture, invocation_dir)
    training = checkpoint.training_args if checkpoint else {}
    if training:
        _raise(checkpoints.training_args_error(training, checkpoint.path.name))
        architecture = _trained_architecture(training, architecture, checkpoint.path)
    model_args = {**checkpoints.model_args_of(training), **json_object("model_args", context.get("model_args", ""))}
    if weights != "pretrained":
        model_args = {**pretrained_only_defaults(architecture), **model_args}
    default = _inspect(architecture, None, "{}")
    check_model_args(default, model_args, architecture)
    labels, labels_source, labels_file = read_labels(context.get("labels", "").strip(), invocation_dir)
    warnings: list[str] = []
    head = checkpoint.head_size(default) if checkpoint else None
    if not labels and training.get("class_map"):
        trained_head = head if head is not None else training.get("num_classes")
        labels, labels_source, labels_file, warning = class_map_labels(training, trained_head, invocation_dir)
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
        raise AnswerError(
            f"timm.create_model({architecture!r}, **model_args) fails with model_args {json.dumps(model_args)}: "
            f"{type(problem).__name__}: {first_line(problem)}"
        ) from problem
    if not labels:
        labels, labels_source = imagenet_labels(spec), ""
    training_data = checkpoints.data_args_of(training)
    variable_data = checked_overrides(json_object("data_config", context.get("data_config", "")))
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


def _weights(
    context: dict[str, str], architecture: str, invocation_dir: Path
) -> tuple[str, checkpoints.Checkpoint | None]:
    weights = context.get("weights", "pretrained").strip()
    key = context.get("checkpoint_key", "auto").strip()
    if key not in checkpoints.KEY_CHOICES:
        raise AnswerError(f"checkpoint_key {key!r} must be one of {', '.join(checkpoints.KEY_CHOICES)}")
    kind = weights_kind(weights, architecture, invocation_dir)
    if kind != "checkpoint":
        return kind, None
    try:
        return "checkpoint", checkpoints.inspect_file(resolve_user_path(weights, invocation_dir), key)
    except checkpoints.CheckpointError as problem:
        raise AnswerError(str(problem)) from problem


def weights_kind(weights: str, architecture: str, invocation_dir: Path) -> str:
    """ "random", "pretrained" or "checkpoint", from the checks that need no reading of the weights (timm has
    pretrained weights for the architecture and can fetch them, the checkpoint file exists), else `AnswerError`."""
    weights = weights.strip()
    if weights == "random":
        return "random"
    if weights == "pretrained":
        from timm.models import get_pretrained_cfg

        from timm_hub_template.hub_weights import pretrained_unreachable

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
    path = resolve_user_path(weights, invocation_dir)
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
