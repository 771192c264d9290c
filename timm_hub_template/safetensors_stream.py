"""Write the weights one tensor at a time, so that saving never holds a second copy of them in memory.

safetensors' `save_file` first turns every tensor of a file into bytes (a second copy of the weights) and then
writes them. The format is simple: an 8-byte little-endian header length, a JSON header with each tensor's dtype,
shape and byte range, then the tensors' bytes, without gaps. `save_file` here writes such a file straight from each
tensor's memory, and lays it out so that loading it memory-mapped needs no copies: the data starts at a multiple of
64 bytes (the header is padded with spaces) and the tensors whose sizes are multiples of 64 bytes come first, so
they all start 64-byte aligned, the alignment CPU kernels pick their code paths by (an unaligned tensor computes
other last bits). The rest follow as safetensors orders them (larger dtypes first, then by name). Shards above
`max_shard_size` and their index are planned by huggingface_hub's `split_torch_state_dict_into_shards` and
written as Transformers' `save_pretrained` writes them.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any, TextIO

from timm_hub_template.digests import HashingWriter
from timm_hub_template.run_files import replace_link

if TYPE_CHECKING:
    from huggingface_hub import StateDictSplit

ALIGNMENT = 64
# Transformers 5's `save_pretrained` default and the Hub's largest file: every timm architecture fits one
# `model.safetensors` (vit_7b_patch16_dinov3 in float32: 27 GB), the only layout timm's `local-dir:` and `hf-hub:`
# loaders read (they take one file; of shards, the first).
MAX_SHARD_SIZE = "50GB"
# Files from this size on show a progress bar while they are written, when standard error is a terminal.
PROGRESS_BYTES = 1_000_000_000
# safetensors' dtype names and torch's, in the order safetensors lays tensors out: larger dtypes first, then by name.
_TORCH_DTYPES = {
    "I64": "int64",
    "U64": "uint64",
    "F64": "float64",
    "F32": "float32",
    "I32": "int32",
    "U32": "uint32",
    "BF16": "bfloat16",
    "F16": "float16",
    "I16": "int16",
    "U16": "uint16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
_DTYPE_NAMES = tuple(_TORCH_DTYPES)


class Cancelled(Exception):
    """Writing stopped because the run failed or was interrupted elsewhere."""


def _dtype_name(tensor: Any) -> str:
    name = next((name for name, dtype in _TORCH_DTYPES.items() if str(tensor.dtype) == f"torch.{dtype}"), None)
    if name is None:
        raise ValueError(f"cannot write a {tensor.dtype} tensor to safetensors")
    return name


def save_file(
    tensors: dict[str, Any],
    path: Path,
    metadata: dict[str, str] | None = None,
    cancelled: Event | None = None,
    progress: TextIO | None = None,
) -> str:
    """A safetensors file of `tensors`, written one tensor at a time, with 64-byte aligned tensors first; returns
    the file's SHA-256 (hashed while it is written). Raises `Cancelled` between tensors once `cancelled` is set.
    A file of `PROGRESS_BYTES` or more shows a progress bar on `progress` (standard error when it is a terminal)."""
    import torch
    from tqdm.auto import tqdm

    def layout(name: str) -> tuple[bool, int, str]:
        tensor = tensors[name]
        return (tensor.numel() * tensor.element_size()) % ALIGNMENT != 0, _DTYPE_NAMES.index(_dtype_name(tensor)), name

    order = sorted(tensors, key=layout)
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name in order:
        tensor = tensors[name]
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _dtype_name(tensor),
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    encoded += b" " * (-(8 + len(encoded)) % ALIGNMENT)  # the data starts 64-byte aligned
    replace_link(Path(path))  # a new file, never written through a link to another one
    if progress is None and sys.stderr is not None and sys.stderr.isatty():
        progress = sys.stderr
    bar = tqdm(
        total=offset,
        desc=f"Writing {path.name}",
        unit="B",
        unit_scale=True,
        file=progress,
        disable=progress is None or offset < PROGRESS_BYTES,
        leave=False,
    )
    with open(path, "wb") as file, bar:
        writer = HashingWriter(file)
        try:
            writer.write(struct.pack("<Q", len(encoded)))
            writer.write(encoded)
            for name in order:
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled(f"writing {path.name} was cancelled")
                tensor = tensors[name].detach()
                if tensor.numel():  # the tensor's own memory, viewed as bytes (no copy unless it is not contiguous)
                    data = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data
                    writer.write(data, temporary=not tensor.is_contiguous())
                    bar.update(len(data))
        except BaseException:
            writer.abandon()
            raise
    return writer.digest()


def plan_files(state_dict: dict[str, Any], max_shard_size: int | str = MAX_SHARD_SIZE) -> StateDictSplit:
    """huggingface_hub's plan of which tensors go into which file; meta tensors plan too."""
    from huggingface_hub import split_torch_state_dict_into_shards

    return split_torch_state_dict_into_shards(
        state_dict, filename_pattern="model{suffix}.safetensors", max_shard_size=max_shard_size
    )


def save_sharded(
    state_dict: dict[str, Any],
    folder: Path,
    total_parameters: int,
    max_shard_size: int | str = MAX_SHARD_SIZE,
    cancelled: Event | None = None,
) -> dict[str, str]:
    """`model.safetensors`, or `model-0000i-of-0000n.safetensors` shards with `model.safetensors.index.json` above
    `max_shard_size`; returns the SHA-256 of each weights file written, by name."""
    split = plan_files(state_dict, max_shard_size)
    files = {
        filename: save_file({name: state_dict[name] for name in names}, folder / filename, {"format": "pt"}, cancelled)
        for filename, names in split.filename_to_tensors.items()
    }
    if split.is_sharded:
        index = {
            "metadata": {"total_parameters": total_parameters, **split.metadata},
            "weight_map": split.tensor_to_filename,
        }
        replace_link(folder / "model.safetensors.index.json")
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return files


def load_file(path: Path, dtype: Any = None) -> dict[str, Any]:
    """The tensors of a safetensors file, each read into its own freshly allocated (64-byte aligned) memory, the
    floating-point ones cast to `dtype` one at a time when given.

    safetensors' own `load_file` memory-maps the file: its tensors are views at the file's offsets (often not
    64-byte aligned, which selects other CPU kernels), and the mapped pages count in the process's memory next to
    any aligned copy. Reading each tensor into place keeps exactly one copy of the weights in memory.
    """
    import torch

    tensors = {}
    with open(path, "rb", buffering=0) as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_size))
        header.pop("__metadata__", None)
        data_start = 8 + header_size
        for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):  # file order
            if entry["dtype"] not in _TORCH_DTYPES:
                raise ValueError(
                    f"{path.name}: tensor {name} has dtype {entry['dtype']}, which this reader does not know"
                )
            tensor = torch.empty(entry["shape"], dtype=getattr(torch, _TORCH_DTYPES[entry["dtype"]]))
            start, end = entry["data_offsets"]
            if end - start != tensor.numel() * tensor.element_size():
                raise ValueError(f"{path.name}: tensor {name} has {end - start} bytes for shape {entry['shape']}")
            if tensor.numel():
                _read_into(file, data_start + start, tensor.reshape(-1).view(torch.uint8).numpy(), path)
            if dtype is not None and tensor.is_floating_point() and tensor.dtype != dtype:
                tensor = tensor.to(dtype)
            tensors[name] = tensor
    return tensors


def _read_into(file: Any, offset: int, buffer: Any, path: Path) -> None:
    file.seek(offset)
    view, done = memoryview(buffer).cast("B"), 0
    while done < len(view):
        count = file.readinto(view[done:])
        if not count:
            raise ValueError(f"{path.name} ends before the tensors its header lists (truncated file?)")
        done += count
