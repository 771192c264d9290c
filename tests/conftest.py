"""Shared fixtures: an offline Hugging Face environment, and baking the template the way users do."""

import os
import tempfile
from pathlib import Path

import pytest

# Tests never reach the Hub: every run is offline, with caches of its own (hooks inherit this environment).
_HF_HOME = tempfile.mkdtemp(prefix="timm-hub-template-hf-")
os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_HOME=_HF_HOME,
    HF_HUB_CACHE=os.path.join(_HF_HOME, "hub"),
    HF_MODULES_CACHE=os.path.join(_HF_HOME, "modules"),
    TOKENIZERS_PARALLELISM="false",
)

from support import TEMPLATE_DIR


@pytest.fixture(scope="session")
def template_dir() -> Path:
    return TEMPLATE_DIR
