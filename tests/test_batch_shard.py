"""`batch --shard I/N` splits the names so that N machines cover them exactly once."""

import subprocess
import sys

import timm

from timm_hub_template import batch


def test_shards_cover_the_zoo_exactly_once_and_evenly():
    names = batch.expand(["*"])
    assert names == timm.list_models()
    for count in (1, 3, 8):
        shards = [batch.shard(names, index, count) for index in range(count)]
        assert sorted(name for shard in shards for name in shard) == sorted(names)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        assert shards == [batch.shard(names, index, count) for index in range(count)]  # deterministic


def test_shard_argument_is_checked():
    result = subprocess.run(
        [sys.executable, "-m", "timm_hub_template", "batch", "resnet18", "--shard", "4/4"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--shard '4/4' must be I/N with 0 <= I < N, like 0/4" in result.stderr


def test_batch_generates_only_its_shard(tmp_path):
    names = batch.expand(["mobilenetv3_small_0*"])
    assert len(names) == 2
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timm_hub_template",
            "batch",
            "mobilenetv3_small_0*",
            "--shard",
            "1/2",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"custom-{names[1]}"]
    assert "1 of 1 generated" in result.stdout
