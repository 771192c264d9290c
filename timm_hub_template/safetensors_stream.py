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
from pathlib import Path
from typing import Any

ALIGNMENT = 64
# safetensors' dtype names, in the order it lays tensors out: larger dtypes first, then by name.
_DTYPE_NAMES = ("I64", "F64", "F32", "I32", "BF16", "F16", "I16", "I8", "U8", "BOOL")


def _dtype_name(tensor: Any) -> str:
    import torch

    names = {
        torch.int64: "I64",
        torch.float64: "F64",
        torch.float32: "F32",
        torch.int32: "I32",
        torch.bfloat16: "BF16",
        torch.float16: "F16",
        torch.int16: "I16",
        torch.int8: "I8",
        torch.uint8: "U8",
        torch.bool: "BOOL",
    }
    if tensor.dtype not in names:
        raise ValueError(f"cannot write a {tensor.dtype} tensor to safetensors")
    return names[tensor.dtype]


def save_file(tensors: dict[str, Any], path: Path, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file of `tensors`, written one tensor at a time, with 64-byte aligned tensors first."""
    import torch

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
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)))
        file.write(encoded)
        for name in order:
            tensor = tensors[name].detach()
            if tensor.numel():  # the tensor's own memory, viewed as bytes (no copy unless it is not contiguous)
                file.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)


def save_sharded(
    state_dict: dict[str, Any], folder: Path, total_parameters: int, max_shard_size: int | str = "5GB"
) -> list[str]:
    """`model.safetensors`, or `model-0000i-of-0000n.safetensors` shards with `model.safetensors.index.json` above
    `max_shard_size` (huggingface_hub's default); returns the files written."""
    from huggingface_hub import split_torch_state_dict_into_shards

    split = split_torch_state_dict_into_shards(
        state_dict, filename_pattern="model{suffix}.safetensors", max_shard_size=max_shard_size
    )
    for filename, names in split.filename_to_tensors.items():
        save_file({name: state_dict[name] for name in names}, folder / filename, metadata={"format": "pt"})
    files = list(split.filename_to_tensors)
    if split.is_sharded:
        index = {
            "metadata": {"total_parameters": total_parameters, **split.metadata},
            "weight_map": split.tensor_to_filename,
        }
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        files.append("model.safetensors.index.json")
    return files
