"""The model card (README.md of the generated repo), built with huggingface_hub's ModelCard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timm_hub_template.introspect import ArchitectureSpec

TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"


def write_model_card(
    project_dir: Path, spec: ArchitectureSpec, context: dict[str, Any], num_parameters: int, source: str
) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    has_head = spec.num_classes > 0
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="image-classification" if has_head else "image-feature-extraction",
        tags=["timm", "image-classification" if has_head else "image-feature-extraction", "custom_code"],
        license=spec.pretrained_cfg.get("license"),
    )
    card = ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        repo_id=context["repo_name"],
        spec=spec,
        prefix=context["class_prefix"],
        module=context["module_name"],
        params_m=f"{num_parameters / 1e6:.1f}",
        weights=source if source in ("pretrained", "random") else Path(source).name,
    )
    card.save(project_dir / "README.md")
