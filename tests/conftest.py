"""Shared fixtures: an offline Hugging Face environment and a fake Hub; how pytest-xdist shares out the tests."""

import atexit
import os
import shutil
import tempfile

import pytest

# Tests never reach the Hub: every run is offline, with caches of its own (hooks inherit this environment).
_HF_HOME = tempfile.mkdtemp(prefix="timm-hub-template-hf-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_HOME=_HF_HOME,
    HF_HUB_CACHE=os.path.join(_HF_HOME, "hub"),
    HF_MODULES_CACHE=os.path.join(_HF_HOME, "modules"),
    TOKENIZERS_PARALLELISM="false",
)
# huggingface_hub (2.x) fetches its registry of AI agent harnesses from `{HF_ENDPOINT}/api/agent-harnesses` with its
# first request of the day unless HF_HOME holds a copy: a request to the fake Hub the protocol tests count, and the
# first connection a Hub that never answers sees (long before the push). An empty registry detects no agent.
with open(os.path.join(_HF_HOME, ".agent_harnesses.json"), "w") as _registry:
    _registry.write('{"standardEnvVars": [], "harnesses": {}}')
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per worker (and per process it starts): two workers with torch's default of a thread per core
    # would oversubscribe the cores, and torch's threads wait for each other by spinning.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from helpers.fake_hub import FakeHub


@pytest.fixture
def hub(monkeypatch):
    """A fake Hub the hook's subprocess reaches through HF_ENDPOINT, with a token in HF_TOKEN."""
    with FakeHub() as fake_hub:
        for name, value in fake_hub.client_env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token")
        yield fake_hub


@pytest.fixture(scope="module", autouse=True)
def module_scratch_removed(request, tmp_path_factory):
    """The folders a module's fixtures made (tmp_path_factory) go when its tests end, unless one failed: the whole
    suite writes some 17 GB of generated repositories, more than a CI machine's disk may have free. A test's own
    `tmp_path` goes when it passes (`tmp_path_retention_policy` in pyproject.toml)."""
    base = tmp_path_factory.getbasetemp()
    existing = set(base.iterdir())
    failures = request.session.testsfailed
    yield
    if request.session.testsfailed == failures:
        for path in set(base.iterdir()) - existing:
            shutil.rmtree(path, ignore_errors=True)


def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (`-n 2`, the default in pyproject.toml), each test module runs in one worker, which generates
    the module's shared folders once; the zoo's families are independent, so each family is a unit of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrZooFamily(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, test = nodeid.partition("::")
            if module.endswith("test_zoo.py") and test.endswith("]"):
                return f"{module}[{test.rsplit('[', 1)[1]}"
            return module

    return ModuleOrZooFamily(config, log)
