"""The compatibility matrix. Generated repositories of a CNN with a backbone, a ViT and a fallback architecture
load through AutoConfig, AutoModel, AutoModelForImageClassification, AutoImageProcessor, pipeline(...) and their
Backbone with outputs equal to timm's, under each Transformers version of `timm_hub_template.compat` (the floor, one
in the middle and the newest, the template's own) and under the timm floor their model card states; each as a local
folder and as a Hub repository (a repo id read from a Hugging Face cache, `hf-hub:` for timm). The CNN's
preprocessing is edited in config.json first: every loader of every version must read that one copy.

Each older version runs in a virtual environment of its own, holding exactly its lock (`tests/environments/`: what
a user of that version installs, resolved), made once under the venv; only torch is shared with this one.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import transformers
from helpers.support import bake, environment, install, seed_hub_snapshot

from timm_hub_template import compat
from timm_hub_template.maintenance.locks import environment_lock
from timm_hub_template.maintenance.timm_history import build_history
from timm_hub_template.timm_floor import version_key

ARCHITECTURES = {
    "resnet10t": "Resnet10t",  # a CNN with a backbone (ResNet, as resnet50d: the same code, a tenth of the work)
    "vit_tiny_patch16_224": "VitTinyPatch16224",  # a ViT
    "vit_tiny_r_s16_p8_224": "VitTinyRS16P8224",  # a fallback: built by name (hybrid ViT stem)
}
INSTALLED = transformers.__version__  # the newest end: the template's own
CHECK = Path(__file__).resolve().parent / "helpers" / "check_compat.py"
# README, "Versions": each card's timm floor, and for two of them the release before it with what it lacks (the
# fallback's floor, 1.0.3, is the oldest 1.0.x on PyPI: there is no 1.0.x before it). resnet10t is a ResNet, as
# the README's resnet50d. 1.0.22 lacks both `attn_layer` and `DiffParallelScalingBlock`; the import fails first.
FLOORS = {"resnet10t": "1.0.8", "vit_tiny_patch16_224": "1.0.23", "vit_tiny_r_s16_p8_224": "1.0.3"}
BEFORE_FLOORS = {"resnet10t": ("1.0.7", "channels"), "vit_tiny_patch16_224": ("1.0.22", "DiffParallelScalingBlock")}

pytestmark = pytest.mark.slow  # pip installs and a fresh process per version


# The CNN's preprocessing, edited in its config.json after generation (timm's resnet10t: bicubic, crop_pct 0.95).
EDITED_PREPROCESSING = {"resnet10t": {"crop_pct": 0.5, "interpolation": "bilinear"}}


def run_check(
    folders: dict[str, Path],
    tmp_path: Path,
    site: Path | None = None,
    python: Path | None = None,
    hub: bool = False,
) -> dict:
    """helpers/check_compat.py on `folders` in one fresh process of `python` (another version's environment), or of
    this one with `site` (another timm) first on PYTHONPATH; with `hub`, each folder as a Hub repository."""
    tests = str(CHECK.parents[1])  # tests/, where the `helpers` package is
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), tests] if site else [tests]),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),  # each version imports the repo's code afresh
    }
    sources = {name: str(folder) for name, folder in folders.items()}
    if hub:
        env |= {"HF_HUB_CACHE": str(tmp_path / "hub"), "CHECK_FOLDER_TIMM_SOURCE": "hf-hub"}
        for name, folder in folders.items():
            sources[name] = f"someone/{folder.name}"
            seed_hub_snapshot(tmp_path / "hub", sources[name], folder)
    arguments = [
        str(item)
        for name, folder in folders.items()
        for item in (sources[name], name, folder / "model.safetensors", json.dumps(EDITED_PREPROCESSING.get(name, {})))
    ]
    result = subprocess.run(
        [str(python or sys.executable), str(CHECK), *arguments], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# Measured limits of the other loaders, not of the repositories (the repository's code loads these exactly):
# Transformers 4.57's TimmWrapper builds timm's model with its buffers on the meta device, where the hybrid ViT
# stem's forward pass during construction fails (the generated code builds on the meta device with its buffers).
WRAPPER_CANNOT_BUILD = {("4.57", "vit_tiny_r_s16_p8_224"): "meta"}  # by minor release
# timm reads local folders (`local-dir:`) from 1.0.16; the older floors' `hf-hub:` loader cannot import
# huggingface_hub 1.x, which Transformers 5 requires.
TIMM_LOADER_FLOOR = "1.0.16"


def assert_loads_exactly(report: dict, architecture: str, transformers_version: str = INSTALLED) -> None:
    assert "error" not in report, report["error"]
    prefix = ARCHITECTURES[architecture]
    assert report["config_class"] == f"{prefix}Config"
    assert report["model_class"] == f"{prefix}Model"
    assert report["classifier_class"] == f"{prefix}ForImageClassification"
    assert report["processor_class"] == f"{prefix}ImageProcessor"
    assert report["backbone"] == f"{prefix}Backbone"
    assert report["logits_equal"], report["logits_max_abs_diff"]
    assert report["pooled_equal"], report["pooled_max_abs_diff"]
    assert report["pixels_equal"]
    assert report["backbone_equal"]
    assert report["pipeline_label"] == report["argmax_label"]
    assert report["loss_equal"]
    assert report["hidden_states_equal"]
    assert report["checkpointing"]
    assert not [message for message in report["warnings"] if "model of type" in message], report["warnings"]
    # Without remote code: Transformers' TimmWrapper, exactly.
    wrapper = report["timm_wrapper"]
    limit = WRAPPER_CANNOT_BUILD.get((".".join(transformers_version.split(".")[:2]), architecture))
    if limit:
        assert limit in wrapper["error"], wrapper
    else:
        assert_timm_wrapper_exact(report)
    # timm: local-dir:
    if version_key(report["timm_version"]) < version_key(TIMM_LOADER_FLOOR):
        assert "error" in report["timm"], report["timm"]
        return
    assert report["timm"]["logits_equal"] and report["timm"]["data_config_equal"] and report["timm"]["pixels_equal"]
    assert report["timm"]["labels"] == report["labels"]


def assert_timm_wrapper_exact(report: dict) -> None:
    wrapper = report["timm_wrapper"]
    assert "error" not in wrapper, wrapper["error"]
    assert (wrapper["config_class"], wrapper["classifier_class"], wrapper["processor_class"]) == (
        "TimmWrapperConfig",
        "TimmWrapperForImageClassification",
        "TimmWrapperImageProcessor",
    )
    assert wrapper["logits_equal"] and wrapper["pooled_equal"] and wrapper["pixels_equal"]
    assert wrapper["feature_pipeline_equal"] and wrapper["pipeline_label"] == wrapper["argmax_label"]
    assert wrapper["labels"] == report["labels"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The three repositories, generated with random weights as users generate them (cookiecutter); the CNN's
    preprocessing then edited in config.json, as a user tunes it."""
    out = tmp_path_factory.mktemp("compat")
    folders = {name: bake(out, architecture=name, weights="random", git_init="no") for name in ARCHITECTURES}
    for name, edits in EDITED_PREPROCESSING.items():
        path = folders[name] / "config.json"
        config = json.loads(path.read_text())
        path.write_text(json.dumps({**config, "pretrained_cfg": {**config["pretrained_cfg"], **edits}}, indent=2))
    return folders


@pytest.fixture(scope="module")
def transformers_reports(folders, tmp_path_factory):
    """Per Transformers version of the matrix and layout (a folder, a Hub repository): one fresh process checks the
    three repositories, in that version's own environment."""
    reports = {}
    for version in [*compat.TRANSFORMERS_MATRIX, INSTALLED]:
        python = None if version == INSTALLED else environment(environment_lock(version))
        for hub in (False, True):
            scratch = tmp_path_factory.mktemp(f"transformers-{version}")
            reports[version, hub] = (python, run_check(folders, scratch, python=python, hub=hub))
    return reports


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("hub", [False, True], ids=["folder", "hub"])
@pytest.mark.parametrize("version", [*compat.TRANSFORMERS_MATRIX, INSTALLED])
def test_loads_exactly_under_each_transformers_version(transformers_reports, architecture, hub, version):
    python, report = transformers_reports[version, hub]
    assert report["transformers"] == version
    if python:
        # Its own environment: its Transformers and huggingface_hub, none of this venv's packages but torch.
        assert Path(report["transformers_path"]).is_relative_to(python.parent.parent)
        assert Path(report["huggingface_hub_path"]).is_relative_to(python.parent.parent)
    assert_loads_exactly({**report["repos"][architecture], "timm_version": report["timm"]}, architecture, version)
    assert report["repos"][architecture]["timm"]["source"] == ("hf-hub" if hub else "local-dir")


def test_each_older_version_has_its_own_closure(transformers_reports):
    """Transformers 4.57.1's torch extra has no kernels: a package this venv holds for a newer version (kernels,
    which 5.25 requires) is absent from its environment, as from its users'."""
    _, report = transformers_reports[compat.TRANSFORMERS_FLOOR, False]
    assert not report["kernels_importable"]
    lock = environment_lock(compat.TRANSFORMERS_FLOOR).read_text().lower()
    own = report["own_packages"]
    assert {"transformers", "huggingface-hub", "tokenizers"} <= set(own)
    assert all(f"\n{name}=={version}" in lock for name, version in own.items()), own


def card_floor(folder: Path) -> str:
    match = re.search(r'"timm>=([0-9.]+),<', (folder / "README.md").read_text())
    assert match, "the card has no timm requirement"
    return match.group(1)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_loads_exactly_under_the_timm_floor_of_its_card(folders, architecture, tmp_path):
    floor = card_floor(folders[architecture])
    site = None if floor == timm.__version__ else install(f"timm=={floor}")
    report = run_check({architecture: folders[architecture]}, tmp_path, site)
    assert report["timm"] == floor
    if site:
        assert Path(report["timm_path"]).is_relative_to(site)
    assert_loads_exactly({**report["repos"][architecture], "timm_version": report["timm"]}, architecture)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_card_floor_is_the_readmes(folders, architecture):
    assert card_floor(folders[architecture]) == FLOORS[architecture]


@pytest.mark.parametrize("architecture", BEFORE_FLOORS)
def test_the_release_before_the_floor_fails(folders, architecture, tmp_path):
    before, missing = BEFORE_FLOORS[architecture]
    site = install(f"timm=={before}")
    report = run_check({architecture: folders[architecture]}, tmp_path, site)
    assert report["timm"] == before and Path(report["timm_path"]).is_relative_to(site)
    assert missing in report["repos"][architecture].get("error", ""), report["repos"][architecture]


def test_card_requirements_are_the_tested_ranges(folders):
    text = (folders["resnet10t"] / "README.md").read_text()
    section = text.split("## Requirements", 1)[1].split("\n## ", 1)[0]
    floor = card_floor(folders["resnet10t"])
    assert compat.pip_requirements(floor) in section
    assert f'"transformers>={compat.TRANSFORMERS_FLOOR},<{compat.TRANSFORMERS_BELOW}"' in section
    tested = f"{', '.join(compat.TRANSFORMERS_MATRIX)} and {INSTALLED}"
    assert tested in " ".join(section.split())
    assert f"timm {floor} is the oldest release" in " ".join(section.split())
    # The matrix is ordered, and its floor is the card's.
    assert list(compat.TRANSFORMERS_MATRIX) == sorted(compat.TRANSFORMERS_MATRIX, key=version_key)
    assert version_key(compat.TRANSFORMERS_FLOOR) < version_key(INSTALLED)


def test_history_keeps_what_exists_in_every_later_release():
    releases = {
        "1.0.3": {"a", "b"},
        "1.0.10": {"a", "c"},  # b removed, c added
        "1.0.9": {"a", "b"},
        "1.0.11": {"a", "b", "c", "d"},  # b back: it counts from here
    }
    history = build_history(releases)
    assert history["versions"] == ["1.0.3", "1.0.9", "1.0.10", "1.0.11"]
    assert history["since"] == {"b": "1.0.11", "c": "1.0.10", "d": "1.0.11"}  # a: since the oldest, not stored
