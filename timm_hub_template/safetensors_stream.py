"""Write the weights one tensor at a time, so that saving never holds a second copy of them in memory.

safetensors' `save_file` first turns every tensor of a file into bytes (a second copy of the weights) and then
writes them. The format is simple: an 8-byte little-endian header length, a JSON header with each tensor's dtype,
shape and byte range, then the tensors' bytes. `save_file` here writes the same file, byte for byte (tested against
safetensors' own), straight from each tensor's memory. Shards above `max_shard_size` and their index are planned by
huggingface_hub's `split_torch_state_dict_into_shards` and written as Transformers' `save_pretrained` writes them.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

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
    """`safetensors.torch.save_file`, writing each tensor's bytes directly (one tensor in memory at a time)."""
    import torch

    order = sorted(tensors, key=lambda name: (_DTYPE_NAMES.index(_dtype_name(tensors[name])), name))
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
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned, as safetensors pads it
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
