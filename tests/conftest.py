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

from fake_hub import FakeHub
from support import TEMPLATE_DIR


@pytest.fixture(scope="session")
def template_dir() -> Path:
    return TEMPLATE_DIR


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub the hook's subprocess reaches through HF_ENDPOINT, with a token in HF_TOKEN."""
    with FakeHub() as fake_hub:
        for name, value in fake_hub.client_env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        yield fake_hub
