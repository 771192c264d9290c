"""The weights are written one tensor at a time, as safetensors writes them, and sharded like Transformers."""

import hashlib
import json
import shutil
import struct
import threading

import pytest
import timm
import torch
from safetensors.torch import load_file
from safetensors.torch import save_file as save_safetensors
from transformers import AutoModelForImageClassification

from timm_hub_template import batch
from timm_hub_template.export import in_background
from timm_hub_template.safetensors_stream import Cancelled, save_file, save_sharded
from timm_hub_template.safetensors_stream import load_file as load_file_aligned


def same_bytes(actual, expected):
    """Same dtype, shape and bytes (torch.equal has no float8 kernel)."""

    def raw(tensor):
        return tensor.contiguous().reshape(-1).view(torch.uint8)

    return (
        actual.dtype == expected.dtype and actual.shape == expected.shape and torch.equal(raw(actual), raw(expected))
    )


def test_files_hold_the_tensors_at_aligned_offsets(tmp_path):
    tensors = dict(timm.create_model("resnet18").state_dict())  # float32 weights, int64 counters
    tensors |= {
        "half": torch.randn(3, 5).half(),
        "brain": torch.randn(2, 2).bfloat16(),
        "flag": torch.tensor(True),
        "scalar": torch.tensor(2.5, dtype=torch.float64),
        "empty": torch.zeros(0, 4),
        "transposed": torch.randn(4, 6).t(),  # not contiguous
        "bytes": torch.arange(7, dtype=torch.uint8),
        "fp8": torch.randn(4, 4).to(torch.float8_e4m3fn),
        "unsigned": torch.arange(5).to(torch.uint16),
    }
    digest = save_file(tensors, tmp_path / "ours.safetensors", metadata={"format": "pt"})
    for loaded in (load_file(tmp_path / "ours.safetensors"), load_file_aligned(tmp_path / "ours.safetensors")):
        assert set(loaded) == set(tensors)  # safetensors' own reader, then ours
        for name, tensor in tensors.items():
            assert same_bytes(loaded[name], tensor), name
    data = (tmp_path / "ours.safetensors").read_bytes()
    assert digest == hashlib.sha256(data).hexdigest()  # hashed while written
    header_size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + header_size])
    assert header.pop("__metadata__") == {"format": "pt"}
    assert (8 + header_size) % 64 == 0
    for name, entry in header.items():
        start, end = entry["data_offsets"]
        if (end - start) % 64 == 0:  # every tensor whose size allows it starts 64-byte aligned
            assert start % 64 == 0, name
    # Memory-mapped, as Transformers loads it: the aligned tensors need no copy to compute like timm's.
    aligned = [
        name for name, entry in header.items() if (entry["data_offsets"][1] - entry["data_offsets"][0]) % 64 == 0
    ]
    assert len(aligned) > len(header) // 2


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return batch.generate("mobilenetv3_small_050", tmp_path_factory.mktemp("shards"), weights="random", git_init="no")


def test_shards_and_index_load_through_transformers(generated, tmp_path):
    sharded = tmp_path / "sharded"
    shutil.copytree(generated, sharded)
    (sharded / "model.safetensors").unlink()
    state_dict = load_file(generated / "model.safetensors")
    files = save_sharded(state_dict, sharded, total_parameters=123, max_shard_size="1MB")
    shards = sorted(files)
    for name in shards:
        assert files[name] == hashlib.sha256((sharded / name).read_bytes()).hexdigest()
    assert len(shards) > 1 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(state_dict) and set(index["weight_map"].values()) == set(shards)
    assert index["metadata"]["total_parameters"] == 123
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    models = [
        AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
        for folder in (generated, sharded)
    ]
    with torch.inference_mode():
        assert torch.equal(models[0](pixels).logits, models[1](pixels).logits)


def test_small_models_stay_one_file(generated):
    assert (generated / "model.safetensors").is_file()
    assert not (generated / "model.safetensors.index.json").exists()


def test_reading_gives_aligned_tensors_in_the_published_dtype(tmp_path):
    tensors = {
        "odd": torch.randn(3, 5),  # 60 bytes: safetensors' own layout leaves the next tensor unaligned
        "weight": torch.randn(16, 16),
        "counter": torch.tensor(7, dtype=torch.int64),
        "flag": torch.tensor([True, False]),
    }
    path = tmp_path / "theirs.safetensors"
    save_safetensors(tensors, path)  # safetensors' own writer
    loaded = load_file_aligned(path)
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
        assert loaded[name].data_ptr() % 64 == 0, name
    cast = load_file_aligned(path, torch.bfloat16)
    assert cast["weight"].dtype == torch.bfloat16 and torch.equal(cast["weight"], tensors["weight"].bfloat16())
    assert cast["counter"].dtype == torch.int64 and cast["flag"].dtype == torch.bool  # integers stay as they are
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="ends before"):
        load_file_aligned(path)


def test_a_failing_run_stops_the_background_writer_before_it_cleans_up(tmp_path):
    def work(cancelled):
        assert cancelled.wait(timeout=60)  # set when the block fails
        return "stopped"

    with pytest.raises(RuntimeError, match="forward failed"), in_background(work) as saved:
        raise RuntimeError("forward failed")
    assert saved.done() and saved.result() == "stopped"  # the thread ended before the error reached the caller

    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(Cancelled):
        save_file({"weight": torch.randn(64, 64)}, tmp_path / "w.safetensors", cancelled=cancelled)


def test_a_large_file_shows_its_progress_and_a_small_one_does_not(tmp_path, monkeypatch):
    """A progress bar (in bytes) for files of PROGRESS_BYTES or more, here lowered to 1 MB; the file is the same."""
    import io

    from timm_hub_template import safetensors_stream

    tensors = {"weight": torch.arange(2**19, dtype=torch.float32)}  # 2 MB
    shown, quiet = io.StringIO(), io.StringIO()
    monkeypatch.setattr(safetensors_stream, "PROGRESS_BYTES", 2**20)
    save_file(tensors, tmp_path / "large.safetensors", progress=shown)
    monkeypatch.setattr(safetensors_stream, "PROGRESS_BYTES", 2**22)
    save_file(tensors, tmp_path / "small.safetensors", progress=quiet)
    assert "Writing large.safetensors" in shown.getvalue() and "2.10M" in shown.getvalue()  # its size, in bytes
    assert quiet.getvalue() == ""
    assert torch.equal(load_file(tmp_path / "large.safetensors")["weight"], tensors["weight"])
