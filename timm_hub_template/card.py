"""The model card (README.md of the generated repo), built with huggingface_hub's ModelCard, like timm's own cards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers
    from timm_hub_template.introspection import ArchitectureSpec
    from timm_hub_template.onnx_export import OnnxReport
    from timm_hub_template.stats import ModelStats

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
TIMM_URL = "https://github.com/huggingface/pytorch-image-models"
# Hub dataset ids of the tokens of timm's pretrained tags (`augreg_in21k_ft_in1k` -> imagenet-21k, imagenet-1k).
TAG_DATASETS = {
    "in1k": "imagenet-1k",
    "in12k": "imagenet-12k",
    "in21k": "imagenet-21k",
    "in22k": "imagenet-22k",
    "laion2b": "laion-2b",
    "laion400m": "laion-400m",
}
TIMM_BIBTEX = """@misc{rw2019timm,
  author = {Ross Wightman},
  title = {PyTorch Image Models},
  year = {2019},
  publisher = {GitHub},
  journal = {GitHub repository},
  doi = {10.5281/zenodo.4414861},
  howpublished = {\\url{https://github.com/huggingface/pytorch-image-models}}
}"""


@dataclass(frozen=True)
class Provenance:
    """Where the published files came from, for the card's Provenance section."""

    template_version: str
    weights: str  # one sentence: timm's release at a Hub revision, a checkpoint file, or random
    weights_sha256: dict[str, str]  # of model.safetensors, or of each shard
    versions: dict[str, str]  # package -> version


def license_id(answers: Answers) -> str:
    """The `license` variable, or with `auto` timm's pretrained config's, else timm's own (apache-2.0)."""
    if answers.license != "auto":
        return answers.license
    return answers.spec.pretrained_cfg.get("license") or "apache-2.0"


def datasets(answers: Answers) -> list[str]:
    """Hub dataset ids named by the pretrained tag, when the weights are timm's release."""
    tag = answers.spec.tag
    if answers.weights != "pretrained" or not tag:
        return []
    return [TAG_DATASETS[token] for token in tag.split("_") if token in TAG_DATASETS]


def base_model(answers: Answers) -> str | None:
    """`timm/<arch>.<tag>` when the weights are timm's release on the Hub, or when the training run that made the
    checkpoint started from it (`train.py --pretrained`): the Hub's model tree then shows the fine-tune."""
    hub_id = answers.spec.pretrained_cfg.get("hf_hub_id")
    if answers.weights == "pretrained":
        return hub_id or None
    training = answers.checkpoint.training_args if answers.checkpoint else {}
    return hub_id if training.get("pretrained") is True and hub_id else None


@dataclass(frozen=True)
class Attribution:
    """What the card says the weights are: timm's release, the publisher's own training, or untrained."""

    name: str  # timm's name as the card shows it: with the pretrained tag only for timm's own weights
    summary: str  # completes "timm's `<name>` ... with ...": whose weights these are
    weights_are_timms: bool  # the pretrained config's papers and datasets describe these weights


def attribution(answers: Answers) -> Attribution:
    spec = answers.spec
    if answers.weights == "pretrained":
        return Attribution(spec.full_name, "timm's pretrained weights", True)
    if answers.weights == "random":
        return Attribution(spec.name, "untrained (randomly initialised) weights, for trying the code", False)
    training = answers.checkpoint.training_args
    started = ""
    if training.get("pretrained") is True:
        started = f", fine-tuned from timm's pretrained `{spec.full_name}`"
    elif training.get("initial_checkpoint"):
        started = f", trained from the checkpoint `{Path(str(training['initial_checkpoint'])).name}`"
    return Attribution(
        spec.name, f"the publisher's own weights (checkpoint `{answers.checkpoint.path.name}`{started})", False
    )


def paper_links(spec: ArchitectureSpec) -> list[str]:
    """Links to the papers timm's pretrained config names (`arXiv:2110.00476` -> its abstract page)."""
    ids = spec.pretrained_cfg.get("paper_ids") or ()
    if isinstance(ids, str):
        ids = [part for part in re.split(r"[,\s]+", ids) if part]
    links = []
    for paper in ids:
        arxiv = re.fullmatch(r"(?i)arxiv:(\S+)", paper)
        links.append(f"https://arxiv.org/abs/{arxiv.group(1)}" if arxiv else paper)
    return links


@dataclass(frozen=True)
class Requirements:
    """The card's Requirements section: the tested ranges, from `compat` (which the test matrix reads too)."""

    pip: str  # the install line
    transformers: list[str]  # versions tested, oldest first, the generating one last
    timm_floor: str  # oldest timm with everything the code uses
    timm: str  # the generating timm


def requirements(spec: ArchitectureSpec, versions: dict[str, str]) -> Requirements:
    from timm_hub_template import compat
    from timm_hub_template.timm_floor import timm_floor

    floor = timm_floor(spec)
    return Requirements(
        pip=compat.pip_requirements(floor),
        transformers=compat.tested_transformers(versions["transformers"]),
        timm_floor=floor,
        timm=versions["timm"],
    )


def write_model_card(
    project_dir: Path, answers: Answers, stats: ModelStats, provenance: Provenance, onnx: OnnxReport | None = None
) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    from timm_hub_template.data_config import IMAGE_MODES

    spec = answers.spec
    task = "image-classification" if answers.has_head else "image-feature-extraction"
    dataset_ids = datasets(answers)
    data = ModelCardData(
        # timm: the Hub's snippet is then timm's `create_model("hf_hub:...")`, which needs no remote code (the
        # Transformers snippet adds trust_remote_code=True whenever config.json has an auto_map).
        library_name="timm",
        pipeline_tag=task,
        tags=["timm", "transformers", task, "custom_code"],
        license=license_id(answers),
        datasets=dataset_ids or None,
        base_model=base_model(answers),
    )
    weights = attribution(answers)
    card = ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        weights=weights,
        repo_id=answers.repo_id,
        description=answers.description,
        answers=answers,
        spec=spec,
        has_head=answers.has_head,
        prefix=answers.class_prefix,
        module=answers.module_name,
        stats=stats,
        dataset_names=dataset_ids,
        papers=paper_links(spec) if weights.weights_are_timms else [],
        origin_url=spec.pretrained_cfg.get("origin_url") or TIMM_URL,
        provenance=provenance,
        requirements=requirements(spec, provenance.versions),
        timm_bibtex=TIMM_BIBTEX,
        onnx=onnx,
        image_mode=IMAGE_MODES[answers.data_config["input_size"][0]],
    )
    card.save(project_dir / "README.md")
