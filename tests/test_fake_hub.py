"""The fake Hub answers the real huggingface_hub client: repo creation, LFS upload and commit, authentication."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from helpers.fake_hub import FakeHub, allow_calls_to_fake_hub
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

REPO_ID = "test-user/tiny-model"
WEIGHTS_SIZE = 3 * 1024 * 1024


@pytest.fixture
def hub(monkeypatch):
    # tests/conftest.py makes every test offline with HF_HUB_OFFLINE=1, which huggingface_hub read at import: patching
    # its constants lifts that (and turns Xet off, which the fake Hub cannot serve) in this process, deleting the
    # variable lifts it for child processes. A token from the developer's environment must not leak in.
    allow_calls_to_fake_hub(monkeypatch)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with FakeHub() as fake_hub:
        yield fake_hub


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Tiny model\n")
    (folder / "config.json").write_text('{"architecture": "resnet18"}\n')
    (folder / "model.safetensors").write_bytes(os.urandom(WEIGHTS_SIZE))
    return folder


def test_upload_folder_commits_every_file_with_the_weights_through_lfs(hub, model_folder):
    api = HfApi(endpoint=hub.url, token="hf_test")

    assert api.whoami()["name"] == "test-user"
    repo_url = api.create_repo(REPO_ID, exist_ok=True, private=True)
    api.create_repo(REPO_ID, exist_ok=True, private=True)  # a second call finds the repo there: no error
    info = api.upload_folder(repo_id=REPO_ID, folder_path=model_folder, commit_message="Add tiny model")

    assert repo_url.repo_id == REPO_ID
    assert hub.created[0] == {"name": "tiny-model", "organization": "test-user", "visibility": "private"}
    [commit] = hub.commits
    assert (commit.repo_id, commit.revision, commit.message) == (REPO_ID, "main", "Add tiny model")
    assert info.oid == commit.oid
    assert set(commit.files) == {"README.md", "config.json", "model.safetensors"}
    assert commit.lfs_paths == {"model.safetensors"}
    assert commit.files["model.safetensors"] == (model_folder / "model.safetensors").read_bytes()
    assert commit.files["README.md"] == (model_folder / "README.md").read_bytes()
    # The weights travelled once, whole, in a basic LFS PUT; every call but that one carried the token.
    [put] = [request for request in hub.requests if request.method == "PUT"]
    assert len(put.body) == WEIGHTS_SIZE
    assert not any("xet" in request.path for request in hub.requests)
    assert all(request.headers["authorization"] == "Bearer hf_test" for request in hub.requests if request is not put)


def test_uploading_the_same_folder_again_makes_no_commit(hub, model_folder):
    api = HfApi(endpoint=hub.url, token="hf_test")
    api.create_repo(REPO_ID)
    api.upload_folder(repo_id=REPO_ID, folder_path=model_folder)

    api.upload_folder(repo_id=REPO_ID, folder_path=model_folder)

    assert len(hub.commits) == 1
    assert set(hub.repo(REPO_ID).files) == {"README.md", "config.json", "model.safetensors"}


def test_upload_without_token_fails_with_401(hub, model_folder):
    api = HfApi(endpoint=hub.url, token="hf_test")
    api.create_repo(REPO_ID)

    with pytest.raises(HfHubHTTPError) as raised:
        HfApi(endpoint=hub.url, token=False).upload_folder(repo_id=REPO_ID, folder_path=model_folder)

    assert raised.value.response.status_code == 401
    assert hub.commits == []
    assert hub.lfs_objects == {}


def test_whoami_and_create_repo_without_token_get_401(hub):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{hub.url}/api/whoami-v2")
    assert raised.value.code == 401

    with pytest.raises(HfHubHTTPError) as raised:
        HfApi(endpoint=hub.url, token=False).create_repo(REPO_ID, exist_ok=True)
    assert raised.value.response.status_code == 401
    assert hub.repos == {}


def test_subprocess_reaches_the_fake_hub_through_hf_endpoint(hub, model_folder):
    script = (
        "import json, sys; from huggingface_hub import HfApi; api = HfApi(token='hf_test');"
        "api.create_repo(sys.argv[1], exist_ok=True); api.upload_folder(repo_id=sys.argv[1], folder_path=sys.argv[2]);"
        "print(json.dumps(api.whoami()))"
    )
    # The child imports huggingface_hub afresh: its environment alone must point it at the fake Hub, even over the
    # offline setting that conftest gives every other child.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **hub.client_env}

    done = subprocess.run(
        [sys.executable, "-c", script, REPO_ID, str(model_folder)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "test-user"
    assert hub.commits[0].files["model.safetensors"] == (model_folder / "model.safetensors").read_bytes()
