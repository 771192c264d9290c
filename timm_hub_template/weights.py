"""The weights to publish, held by timm's own model (the reference the generated folder is compared with).

`load_reference(answers)` builds timm's model with the answers' arguments (`timm.create_model(architecture,
num_classes=..., **model_args)`) and gives it the weights, in the answers' dtype: timm's pretrained release,
timm's random initialisation with seed 0, or a checkpoint file whose every key and shape is checked first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from timm_hub_template import checkpoints, digests, hub_weights
from timm_hub_template.errors import ExportError, first_line, printable
from timm_hub_template.meta_build import on_meta_device

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers


def load_reference(answers: Answers):
    """timm's model (torch.nn.Module) holding the weights to publish."""
    import timm
    import torch

    spec = answers.spec
    if answers.weights == "random":
        with built_in(answers.torch_dtype):
            torch.manual_seed(0)  # the same random weights on every run
            model = timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs)
    elif answers.weights == "pretrained":
        model = _load_pretrained(answers)
    else:
        return _load_checkpoint(answers)  # cast tensor by tensor while loading
    return model.to(answers.torch_dtype)


@contextlib.contextmanager
def built_in(dtype: Any) -> Iterator[None]:
    """Modules built in the block hold their tensors in `dtype` from the start, as Transformers builds a model
    loaded with `dtype=`: a model is never held in float32 first (a 7B model would need 27 GB)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _load_pretrained(answers: Answers):
    import timm
    import torch

    spec = answers.spec
    try:
        torch.manual_seed(0)  # a new head (num_labels other than the release's) is initialised: the same every run
        return timm.create_model(spec.full_name, pretrained=True, **spec.create_kwargs)
    except (OSError, RuntimeError, ValueError) as error:
        cause = first_line(error) or type(error).__name__
        raise ExportError(
            f"could not get the pretrained weights of {spec.full_name} (offline or not in the Hugging Face cache: "
            f"{cause}); pass weights=<path to a checkpoint> or weights=random"
        ) from error


def _load_checkpoint(answers: Answers):
    """timm's model with the checkpoint's tensors, built on the meta device: the weights exist once in memory."""
    import timm

    spec, checkpoint = answers.spec, answers.checkpoint
    try:
        state_dict = checkpoints.read_weights(checkpoint, answers.torch_dtype)
    except checkpoints.CheckpointError as error:
        raise ExportError(str(error)) from error
    with on_meta_device():
        reference = timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs)
    if not assign(reference, state_dict, f"checkpoint {checkpoint.path.name} does not fit {spec.full_name}"):
        # A buffer timm cannot recompute: build for real instead.
        reference = timm.create_model(spec.full_name, pretrained=False, **spec.create_kwargs)
        reference.load_state_dict(state_dict, strict=True, assign=True)
    return reference.to(answers.torch_dtype)  # the non-persistent buffers timm computed


def assign(model: Any, state_dict: dict[str, Any], what: str) -> bool:
    """Give `model`, built on the meta device, the tensors of `state_dict` as they are (no copy; every key, shape
    and kind checked first, `ExportError` naming what differs) and compute its non-persistent buffers; False when a
    module holds a buffer timm cannot compute (the model then still has meta tensors: build it for real)."""
    check_keys(model.state_dict(), state_dict, what)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return materialize_buffers(model)


def materialize_buffers(model: Any) -> bool:
    """Compute the non-persistent buffers of a meta-built model with timm's `init_non_persistent_buffers`.

    False when a module holds such a buffer without that method (nothing could compute its values).
    """
    import torch

    owners = {name.rpartition(".")[0] for name, buffer in model.named_buffers() if buffer.is_meta}
    modules = [model.get_submodule(owner) for owner in sorted(owners)]
    if not all(hasattr(module, "init_non_persistent_buffers") for module in modules):
        return False
    for module in modules:
        for attribute, buffer in module._buffers.items():
            if buffer is not None and buffer.is_meta:
                module._buffers[attribute] = torch.empty_like(buffer, device="cpu")
        module.init_non_persistent_buffers()
    return not any(buffer.is_meta for buffer in model.buffers())


def check_keys(expected: dict[str, Any], given: dict[str, Any], what: str) -> None:
    """Fail with one line that lists missing, unexpected and mis-shaped keys (the first few of each)."""
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    shapes = [
        f"{key} {tuple(given[key].shape)} != {tuple(expected[key].shape)}"
        for key in expected
        if key in given and tuple(given[key].shape) != tuple(expected[key].shape)
    ]
    # A floating-point parameter stored as integers (or the reverse) cannot be what timm trained.
    kinds = [
        f"{key} {str(given[key].dtype).removeprefix('torch.')} for {str(expected[key].dtype).removeprefix('torch.')}"
        for key in expected
        if key in given and given[key].is_floating_point() != expected[key].is_floating_point()
    ]
    problems = [
        f"{label} ({len(keys)}): {', '.join(printable(key) for key in keys[:5])}{', ...' if len(keys) > 5 else ''}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes", shapes),
            ("wrong dtypes", kinds),
        )
        if keys
    ]
    if problems:
        raise ExportError(f"{what}: {'; '.join(problems)}")


def describe(answers: Answers) -> str:
    """One sentence for the card: which release, file or seed the published weights are."""
    spec = answers.spec
    if answers.weights == "random":
        return "random initialisation (`torch.manual_seed(0)`): untrained, for trying the code"
    if answers.weights == "pretrained":
        cfg = spec.pretrained_cfg
        hub_id = cfg.get("hf_hub_id")
        if not hub_id:
            return f"timm's pretrained `{spec.full_name}`, from {cfg.get('url') or cfg.get('file')}"
        revision = hub_weights.cached_revision(hub_id, cfg.get("hf_hub_filename"))
        at = f" at revision `{revision}`" if revision else ""
        return f"timm's pretrained release [`{hub_id}`](https://huggingface.co/{hub_id}){at}"
    checkpoint = answers.checkpoint
    try:  # the SHA-256 of the version of the file the weights were read from
        digest = digests.sha256(checkpoint.path, checkpoint.identity)
    except OSError as error:
        raise ExportError(checkpoints.changed(checkpoint.path)) from error
    return f"{checkpoint.description} (SHA-256 `{digest}`)"
