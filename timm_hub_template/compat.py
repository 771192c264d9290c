"""The library versions a generated repository is tested with: the one place that the model card's Requirements
section and the compatibility matrix (`tests/test_compat.py`) both read, so they cannot disagree.

The generated code works with Transformers from 4.57.1 (the last 4.x line) to today's 5.x: what moved between
versions is imported from where each version has it. The matrix loads the generated repositories under the oldest
version, one in the middle and the template's own (the newest: requirements.txt), each installed with
`pip install --no-deps --target` next to the one torch, with the packages that version needs in place of the
template's own (huggingface_hub as that Transformers requires, and what it needs).
"""

from __future__ import annotations

# Oldest first. Each: the packages installed with it; the template's own version is the newest end.
TRANSFORMERS_MATRIX: dict[str, tuple[str, ...]] = {
    "4.57.1": ("huggingface_hub==0.36.2", "tokenizers==0.22.2"),
    "5.12.1": ("huggingface_hub==1.33.0", "tokenizers==0.22.2", "httpx==0.28.1", "httpcore==1.0.9"),
}
TRANSFORMERS_FLOOR = next(iter(TRANSFORMERS_MATRIX))
TRANSFORMERS_BELOW = "6"  # the next major version: untested
TIMM_BELOW = "1.1"  # as requirements.txt: timm's 1.0 line


def tested_transformers(own_version: str) -> list[str]:
    """The Transformers versions of the matrix, oldest first, ending with the one that generated the repository."""
    return [*TRANSFORMERS_MATRIX, own_version]


def pip_requirements(timm_floor: str) -> str:
    """The card's install line: the tested ranges of Transformers and timm (huggingface_hub follows Transformers)."""
    return (
        f'pip install "transformers>={TRANSFORMERS_FLOOR},<{TRANSFORMERS_BELOW}" '
        f'"timm>={timm_floor},<{TIMM_BELOW}" torch pillow'
    )


def repository_requirements(timm_floor: str) -> str:
    """A generated repository's requirements.txt: Inference Endpoints' default container installs it at start-up
    (Transformers and torch are in its image, timm is not)."""
    return f"timm>={timm_floor},<{TIMM_BELOW}\n"
