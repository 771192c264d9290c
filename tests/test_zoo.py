"""One architecture of every timm model module, generated in batch mode and checked against timm.

Batch mode imports torch, timm and transformers once for all of them; each generation reloads its folder through
the Auto classes and requires logits, pooled features and processed pixels equal to timm's (the export's check).
The representatives are the smallest architecture (by parameters) of each module, listed in
family_representatives.json (the three vision-encoder modules' with two blocks, `FEWER_BLOCKS`); the first test keeps
that list complete as timm adds modules.

A family is generated when a test first asks for it, so `pytest tests/test_zoo.py -k resnet` generates only
that one. A sample of families is also checked without the product's verdict: `helpers/check_folder.py`, in a fresh
process, compares the folder with `torch.manual_seed(0); timm.create_model(name)` (the promised random weights).
"""

import ast
import json
import shutil
import sys
from pathlib import Path

import pytest
import timm
from helpers.support import check_folder
from timm.models import model_entrypoint

from timm_hub_template import batch
from timm_hub_template.formatting import ruff_problems

REPRESENTATIVES = json.loads((Path(__file__).parent / "family_representatives.json").read_text())


def family(name: str) -> str:
    return model_entrypoint(name).__module__.rsplit(".", 1)[-1]


def test_representatives_cover_every_timm_model_module():
    families = {family(name) for name in timm.list_models()}
    assert set(REPRESENTATIVES) == families
    assert all(family(name) == module for module, name in REPRESENTATIVES.items())
    assert len(families) >= 98


# The smallest architectures of the three vision-encoder modules have 88M to 412M parameters (over four minutes of
# CI together): their class is generated with two blocks (`model_args`, as a user sets it), which runs the same
# modeling file through the same three loaders. The coverage sweep checks the architectures at their own size.
FEWER_BLOCKS = {"deepseek_vit": {"depth": 2}, "gemma4_vit": {"depth": 2}, "qwen3_vit": {"depth": 2}}


@pytest.fixture(scope="module", params=sorted(REPRESENTATIVES))
def outcome(request, tmp_path_factory):
    """Batch mode's outcome for the representative of the timm module `request.param`, generated once for the
    tests that ask for it (pytest runs them one after another; with pytest-xdist, in one worker); its folder goes when
    they pass (the families together are several GB)."""
    out = tmp_path_factory.mktemp("zoo")
    failures = request.session.testsfailed
    [generated] = batch.run(
        [REPRESENTATIVES[request.param]],
        out,
        weights="random",
        git_init="no",
        model_args=json.dumps(FEWER_BLOCKS.get(request.param, {})),
    )
    yield generated
    if request.session.testsfailed == failures:
        shutil.rmtree(out)


@pytest.mark.slow
def test_family_generates_and_matches_timm(outcome):
    assert outcome.ok, outcome.error
    assert (outcome.folder / "model.safetensors").is_file()
    assert (outcome.folder / "config.json").is_file()


# A CNN with BatchNorm, a ViT, a hybrid CNN/attention model (the aligned-copy case), a fallback architecture and a
# head holding a BatchNorm: independent of the product's own verification.
PARITY_SAMPLE = ["resnet", "vision_transformer", "maxxvit", "vision_transformer_hybrid", "levit"]


@pytest.mark.slow
@pytest.mark.parametrize("outcome", PARITY_SAMPLE, indirect=True)
def test_family_sample_matches_timms_seed_0_model_in_a_fresh_process(outcome):
    assert outcome.ok, outcome.error
    report = check_folder(outcome.folder, outcome.architecture, "seed:0")
    assert report["logits_equal"], report["logits_max_abs_diff"]
    assert report["pooled_equal"], report["pooled_max_abs_diff"]
    assert report["pixels_equal"]
    assert report["pipeline_label"] == report["argmax_label"]


ALLOWED_IMPORTS = {"torch", "timm", "transformers"} | set(sys.stdlib_module_names)


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.slow
def test_generated_code_imports_only_torch_timm_transformers_and_stdlib(outcome):
    assert outcome.ok, outcome.error
    files = sorted(outcome.folder.glob("*.py"))
    assert len(files) == 3
    for path in files:
        assert imported_modules(path) <= ALLOWED_IMPORTS, path.name
    assert not [path.name for path in outcome.folder.iterdir() if path.suffix in (".bin", ".pth", ".pt", ".pkl")]


@pytest.mark.slow
def test_generated_code_is_ruff_clean(outcome):
    assert outcome.ok, outcome.error
    assert ruff_problems(outcome.folder) == []
