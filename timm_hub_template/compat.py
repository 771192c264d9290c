"""The library versions a generated repository is tested with: the one place that the model card's Requirements
section and the compatibility matrix (`tests/test_compat.py`) both read, so they cannot disagree.

The generated code works with Transformers from 4.57.1 (the last 4.x line) to today's 5.x: what moved between
versions is imported from where each version has it. The matrix loads the generated repositories under the oldest
version, one in the middle and the template's own (the newest: constraints.txt), each in an environment of its own
with what a user of that version installs (`environment_requirements`), resolved and locked
(`tests/environments/`, refreshed by `.ci/refresh-locks`).
"""

from __future__ import annotations

# Oldest first; the template's own version (constraints.txt) is the newest end.
TRANSFORMERS_MATRIX: tuple[str, ...] = ("4.57.1", "5.12.1")
TRANSFORMERS_FLOOR = TRANSFORMERS_MATRIX[0]
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


def environment_requirements(transformers_version: str, timm_version: str, torch: tuple[str, str]) -> list[str]:
    """What a user of `transformers_version` installs to load a generated repository: Transformers with its torch
    extra (its own pins of accelerate, kernels ...), timm, pillow, and the template's torch and torchvision (the
    one torch build the environments share); the rest is that version's to resolve."""
    return [
        f"transformers[torch]=={transformers_version}",
        f"timm=={timm_version}",
        "pillow",
        f"torch=={torch[0]}",
        f"torchvision=={torch[1]}",
    ]
