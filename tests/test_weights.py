"""The three weight sources, offline: timm's `pretrained` path through a seeded HF cache, and random."""

import hashlib

from helpers.support import bake, bake_in_subprocess, check_folder, save_timm_checkpoint, seed_hub_cache
from safetensors.torch import load_file

ARCHITECTURE = "mobilenetv3_small_100.lamb_in1k"


def test_pretrained_weights_come_from_the_hf_cache_unchanged(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cached = save_timm_checkpoint(ARCHITECTURE, tmp_path / "cached.safetensors", seed=7)
    seed_hub_cache(cache, f"timm/{ARCHITECTURE}", cached)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    folder = bake_in_subprocess(tmp_path / "out", architecture=ARCHITECTURE, weights="pretrained")

    saved = load_file(folder / "model.safetensors")
    expected = load_file(cached)
    assert set(saved) == set(expected)  # timm's own names
    for key, tensor in saved.items():
        assert tensor.equal(expected[key]), key
    report = check_folder(folder, ARCHITECTURE, cached)
    assert report["logits_equal"] and report["pooled_equal"] and report["pixels_equal"]


def test_random_weights_generate_a_folder_that_matches_timm(tmp_path):
    folder = bake(tmp_path / "out", architecture=ARCHITECTURE, weights="random")
    report = check_folder(folder, ARCHITECTURE, folder / "model.safetensors")
    assert report["logits_equal"] and report["pooled_equal"] and report["pixels_equal"]
    assert report["pipeline_label"] == report["argmax_label"]


def test_random_weights_are_reproducible(tmp_path):
    digests = []
    for run in ("a", "b"):
        folder = bake(tmp_path / run, architecture=ARCHITECTURE, weights="random")
        digests.append(hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
