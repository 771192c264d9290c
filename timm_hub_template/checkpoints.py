"""Checkpoint files: timm state dicts (safetensors or torch) and the checkpoints timm's `train.py` saves.

`train.py`'s `CheckpointSaver` writes `model_best.pth.tar`, `last.pth.tar` and `checkpoint-<epoch>.pth.tar`: a dict
with `state_dict`, `state_dict_ema` (with `--model-ema`), `optimizer`, `epoch`, `metric` and `args`, the
`argparse.Namespace` of the run. Everything is read with `torch.load(weights_only=True)` (no pickled code runs;
`argparse.Namespace` is the one class allowed besides tensors and plain values) or with safetensors.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template.errors import first_line

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

SUFFIXES = (".safetensors", ".pth.tar", ".pth", ".pt", ".bin")
# Which weights of a training checkpoint are published: `auto` is timm's own choice (`load_checkpoint` and
# `load_state_dict` take the EMA weights when there are any; `train.py` ranks `model_best` by the EMA's metric).
KEY_CHOICES = ("auto", "state_dict_ema", "state_dict")
_EMA_KEYS = ("state_dict_ema", "model_ema")
_MODEL_KEYS = ("state_dict", "model")


# safetensors' dtype names as torch names.
SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with one line saying why."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file and what it holds."""

    path: Path
    key: str  # the entry whose weights are published ("state_dict_ema", "state_dict", ...), "" for a bare state dict
    training_args: dict[str, Any]  # vars(args) of timm's train.py, as JSON values; {} without
    shapes: dict[str, tuple[int, ...]]  # of the published weights, by timm's parameter name
    dtypes: dict[str, str] = dataclasses.field(default_factory=dict)  # torch dtype names, by parameter name
    # The version of the file described (digests.identity): the weights read and the card's SHA-256 must be of it.
    identity: tuple[int, int, int, int] | None = None

    @property
    def floating_dtype(self) -> str | None:
        """The dtype most floating-point elements are stored in (`--model-dtype bfloat16` runs: bfloat16)."""
        sizes: dict[str, int] = {}
        for name, dtype in self.dtypes.items():
            if dtype.startswith(("float", "bfloat")):
                sizes[dtype] = sizes.get(dtype, 0) + math.prod(self.shapes.get(name, ()))
        return max(sizes, key=sizes.get) if sizes else None

    def head_size(self, spec: ArchitectureSpec) -> int | None:
        """Classes of the checkpoint's classifier (timm's `pretrained_cfg["classifier"]`), None if it has none."""
        for module in spec.classifier:
            for suffix in (".weight", ".bias"):
                shape = self.shapes.get(module + suffix)
                if shape:
                    return int(shape[0])
        return None

    @property
    def description(self) -> str:
        """What was published, for the card: the file and, for a training checkpoint, the entry."""
        if not self.key:
            return f"checkpoint `{self.path.name}`"
        kind = "EMA weights" if self.key in _EMA_KEYS else "model weights"
        trained = f", trained as `{self.training_args['model']}`" if self.training_args.get("model") else ""
        return f"the {kind} (`{self.key}`) of checkpoint `{self.path.name}`{trained}"


def has_supported_suffix(path: Path) -> bool:
    return path.name.lower().endswith(SUFFIXES)


def inspect_file(path: Path, key_choice: str = "auto") -> Checkpoint:
    """Open a checkpoint and describe it, without reading the weights into memory (memory-mapped)."""
    if not has_supported_suffix(path):
        raise CheckpointError(
            f"weights {str(path)!r} must be 'pretrained', 'random' or a checkpoint file ending in {', '.join(SUFFIXES)}"
        )
    if not path.exists():
        raise CheckpointError(f"weights file {str(path)!r} does not exist")
    if not path.is_file():
        raise CheckpointError(f"weights {str(path)!r} is not a regular file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"weights file {path} is empty (0 bytes): was it copied completely?")
    checkpoint = dataclasses.replace(_inspect_contents(path, key_choice), identity=version(path))
    if version(path) != checkpoint.identity:
        raise CheckpointError(changed(path))
    return checkpoint


def version(path: Path) -> tuple[int, int, int, int]:
    """The version of the file at `path` (device, inode, size, modification time)."""
    from timm_hub_template.digests import identity

    return identity(Path(path).stat())


def changed(path: Path) -> str:
    return (
        f"checkpoint {path.name} changed while the run was reading it (is a training run still writing it?): copy "
        "the checkpoint to a file of its own and pass that as weights"
    )


def _inspect_contents(path: Path, key_choice: str) -> Checkpoint:
    if path.name.lower().endswith(".safetensors"):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as file:
                slices = {key: file.get_slice(key) for key in file.keys()}  # noqa: SIM118
                shapes = {key: tuple(piece.get_shape()) for key, piece in slices.items()}
                dtypes = {
                    key: SAFETENSORS_DTYPES.get(piece.get_dtype(), piece.get_dtype()) for key, piece in slices.items()
                }
        except Exception as error:  # safetensors raises its own error types
            raise CheckpointError(
                f"cannot read checkpoint {path}: {type(error).__name__}: {first_line(error)}"
            ) from error
        if key_choice == "state_dict_ema":
            raise CheckpointError(f"{path.name} holds one state dict, no EMA weights: use checkpoint_key=auto")
        return Checkpoint(path, "", {}, shapes, dtypes)
    from timm_hub_template.introspection import json_safe

    contents = load(path, mmap=True)
    key = _published_key(contents, key_choice, path)
    state_dict = state_dict_of(contents, key, path)
    args = contents.get("args") if key else None
    return Checkpoint(
        path=path,
        key=key,
        training_args=json_safe(vars(args)) if isinstance(args, argparse.Namespace) else {},
        shapes={name: tuple(tensor.shape) for name, tensor in state_dict.items()},
        dtypes={name: str(tensor.dtype).removeprefix("torch.") for name, tensor in state_dict.items()},
    )


def load(path: Path, mmap: bool = False) -> dict[str, Any]:
    """`torch.load` with `weights_only=True`, allowing `argparse.Namespace` (timm's `args`)."""
    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            try:
                contents = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as error:
                if not mmap or "mmap" not in str(error):
                    raise
                contents = torch.load(path, map_location="cpu", weights_only=True)  # the legacy format
    except Exception as error:  # pickle, zip and torch errors have no common base class
        cause = first_line(error) or "the file ends early (truncated?)"
        raise CheckpointError(f"cannot read checkpoint {path}: {type(error).__name__}: {cause}") from error
    if not isinstance(contents, dict):
        raise CheckpointError(f"checkpoint {path.name} holds a {type(contents).__name__}, not a state dict")
    return contents


def _published_key(contents: dict[str, Any], key_choice: str, path: Path) -> str:
    """The entry holding the weights to publish; "" when the file is itself a state dict."""
    ema = next((key for key in _EMA_KEYS if isinstance(contents.get(key), dict)), "")
    model = next((key for key in _MODEL_KEYS if isinstance(contents.get(key), dict)), "")
    if key_choice == "state_dict_ema":
        if not ema:
            raise CheckpointError(
                f"checkpoint {path.name} has no EMA weights (state_dict_ema): use checkpoint_key=state_dict"
            )
        return ema
    if key_choice == "state_dict" and model:
        return model
    return (ema or model) if key_choice == "auto" else model


def state_dict_of(contents: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    """The weights under `key` (the whole dict for ""), without DDP/compile prefixes (timm's `clean_state_dict`)."""
    import torch
    from timm.models import clean_state_dict

    state_dict = contents[key] if key else contents
    tensors = {name: value for name, value in state_dict.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"checkpoint {path.name} holds no tensors under {key or 'its top level'}")
    return clean_state_dict(tensors)


def read_weights(checkpoint: Checkpoint, dtype: Any = None) -> dict[str, Any]:
    """The published weights of `checkpoint`, each tensor 64-byte aligned (an unaligned tensor selects other CPU
    kernels: outputs then differ in the last bits from timm's) and, if floating point, in `dtype` when given.

    A safetensors file is read tensor by tensor into aligned memory and cast as it is read; a torch file is
    memory-mapped where its format allows, and its tensors are cast or copied one at a time where needed. Every
    tensor comes back in the standard (contiguous) layout: `train.py --channels-last` saves channels-last strides,
    while timm's `load_checkpoint` copies the values into a model in the standard layout, and the layout selects the
    CPU kernels.
    """
    read = version(checkpoint.path)
    if checkpoint.identity is not None and read != checkpoint.identity:
        raise CheckpointError(changed(checkpoint.path))
    state_dict = _read_weights(checkpoint, dtype)
    if version(checkpoint.path) != read:
        raise CheckpointError(changed(checkpoint.path))
    return state_dict


def _read_weights(checkpoint: Checkpoint, dtype: Any = None) -> dict[str, Any]:
    import torch
    from timm.models import clean_state_dict

    from timm_hub_template import safetensors_stream

    if not checkpoint.key and checkpoint.path.name.lower().endswith(".safetensors"):
        try:
            state_dict = safetensors_stream.load_file(checkpoint.path, dtype)
        except (OSError, ValueError, struct.error) as error:
            problem = f"{type(error).__name__}: {first_line(error)}"
            raise CheckpointError(f"cannot read checkpoint {checkpoint.path}: {problem}") from error
        return clean_state_dict(state_dict)
    state_dict = state_dict_of(load(checkpoint.path, mmap=True), checkpoint.key, checkpoint.path)
    for key, tensor in state_dict.items():
        if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
            state_dict[key] = tensor = tensor.to(dtype)
        if tensor.stride() != _standard_strides(tensor.shape):
            # Not `contiguous()`: it keeps the channels-last strides of size-1 dimensions (1x1 convolutions), which
            # still select other kernels.
            state_dict[key] = tensor = tensor.clone(memory_format=torch.contiguous_format)
        if tensor.data_ptr() % 64:
            state_dict[key] = tensor.clone()
    return state_dict


def _standard_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def model_args_of(training: dict[str, Any]) -> dict[str, Any]:
    """The `timm.create_model` arguments `train.py` built the model with, besides its name and head size.

    In `train.py`: `in_chans` (from `--in-chans`, else `--input-size`'s first value), `global_pool` (`--gp`),
    `bn_eps`, `bn_momentum` and `--model-kwargs`. Dropout rates are left out: they change training, not the
    model's outputs. `training_args_error` has checked the types first.
    """
    if not training:
        return {}
    model_args: dict[str, Any] = {}
    if training.get("in_chans") is not None:
        model_args["in_chans"] = int(training["in_chans"])
    elif training.get("input_size"):
        model_args["in_chans"] = int(training["input_size"][0])
    if training.get("gp"):
        model_args["global_pool"] = training["gp"]
    for name in ("bn_eps", "bn_momentum"):  # `timm.create_model` arguments of the generator-built families
        if training.get(name) is not None:
            model_args[name] = training[name]
    model_args.update(training.get("model_kwargs") or {})
    return model_args


# The `args` fields the template reads, and what each must hold (a crafted or damaged checkpoint may hold anything).
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_number(item) for item in value)


TRAINING_ARG_TYPES: dict[str, tuple[Any, str]] = {
    "model": (lambda v: isinstance(v, str), "a timm model name"),
    "num_classes": (lambda v: _is_int(v) and 0 <= v <= 1_000_000, "a whole number of classes"),
    "in_chans": (lambda v: _is_int(v) and v > 0, "a positive whole number"),
    "input_size": (
        lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(x) and x > 0 for x in v),
        "[C, H, W]",
    ),
    "img_size": (
        lambda v: (
            (_is_int(v) and v > 0) or (isinstance(v, list) and len(v) == 2 and all(_is_int(x) and x > 0 for x in v))
        ),
        "a size",
    ),
    "mean": (_numbers, "a list of numbers"),
    "std": (lambda v: _numbers(v) and all(x > 0 for x in v), "a list of positive numbers"),
    "interpolation": (lambda v: isinstance(v, str), "an interpolation name"),
    "crop_pct": (lambda v: _is_number(v) and 0 < v <= 2, "a number in (0, 2]"),
    "crop_mode": (lambda v: isinstance(v, str), "a crop mode"),
    "gp": (lambda v: isinstance(v, str), "a pooling name"),
    "bn_eps": (_is_number, "a number"),
    "bn_momentum": (_is_number, "a number"),
    "model_kwargs": (lambda v: isinstance(v, dict), "an object of keyword arguments"),
    "class_map": (lambda v: isinstance(v, str), "a file name"),
    "data_dir": (lambda v: isinstance(v, str), "a folder"),
    "data": (lambda v: isinstance(v, str), "a folder"),
    "pretrained": (lambda v: isinstance(v, bool), "true or false"),
    "initial_checkpoint": (lambda v: isinstance(v, str), "a file name"),
}


def training_args_error(training: dict[str, Any], file_name: str) -> str:
    """Why the checkpoint's `args` cannot be used, as one line, or ""."""
    import json

    for name, (valid, expected) in TRAINING_ARG_TYPES.items():
        value = training.get(name)
        if value not in (None, "") and not valid(value):
            shown = json.dumps(value, default=str)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            return (
                f"checkpoint {file_name} has an unusable args.{name} ({shown}; expected {expected}): "
                "it was not saved by timm's train.py as it is; pass weights as a state dict and the model's "
                "settings as variables"
            )
    return ""


def data_args_of(training: dict[str, Any]) -> dict[str, Any]:
    """The data settings `train.py` resolved its eval transform with (`resolve_data_config(vars(args))`)."""
    keys = ("input_size", "img_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
    return {key: training[key] for key in keys if training.get(key) not in (None, "", [])}
