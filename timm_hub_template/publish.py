"""Publishing the checked folder: one initial git commit (weights in Git LFS) and the opt-in push to the Hub.

Neither step can lose the generated folder: a missing git, git-lfs, token or network is reported in one line
and the folder stays complete, ready to commit or upload by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# The identity of the initial commit when git has none configured; the user's git config is never written.
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "timm-hub-template",
    "GIT_AUTHOR_EMAIL": "timm-hub-template@localhost",
    "GIT_COMMITTER_NAME": "timm-hub-template",
    "GIT_COMMITTER_EMAIL": "timm-hub-template@localhost",
}


class PublishError(Exception):
    """A publishing step that did not happen, with what to do instead."""


def _git(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        output = " ".join((result.stderr or result.stdout).split())
        raise PublishError(f"git {args[0]} failed: {output[:300]}")
    return result.stdout.strip()


def git_init(project_dir: Path, message: str) -> str:
    """`git init` the folder and commit every file, `model.safetensors` through Git LFS; returns the commit hash.

    Git LFS is installed into this repository only (`git lfs install --local`): without it the weights would be
    committed as a plain blob, which the Hub refuses.
    """
    if shutil.which("git") is None:
        raise PublishError("git is not installed: the folder was not made a git repository")
    if subprocess.run(["git", "lfs", "version"], capture_output=True, check=False).returncode != 0:
        raise PublishError(
            "git-lfs is not installed, and the Hub needs the weights in Git LFS: the folder was not made a git "
            "repository (install git-lfs, then run `git init && git lfs install --local` in it)"
        )
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=project_dir, capture_output=True, text=True, check=False
    )
    if inside.returncode == 0:
        raise PublishError(
            f"the folder is inside the git repository {inside.stdout.strip()}: commit it there (no nested repository)"
        )
    env = dict(os.environ)
    configured = subprocess.run(["git", "config", "user.email"], capture_output=True, check=False).returncode == 0
    if not configured:
        env.update(FALLBACK_IDENTITY)
    try:
        _git(project_dir, "init", "--quiet", "--initial-branch=main")
        _git(project_dir, "lfs", "install", "--local")
        _git(project_dir, "add", "--all")
        _git(project_dir, "commit", "--quiet", "--message", message, env=env)
        return _git(project_dir, "rev-parse", "HEAD")
    except PublishError:
        shutil.rmtree(project_dir / ".git", ignore_errors=True)  # no half-made repository
        raise


def hub_owner(owner: str) -> str:
    """`owner`, or the user the Hub token belongs to."""
    if owner:
        return owner
    from huggingface_hub import HfApi

    return HfApi().whoami(token=_token())["name"]


def push(project_dir: Path, repo_id: str, private: bool, message: str) -> str:
    """Create the Hub repo (if needed) and upload the folder in one commit; returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=_token())
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    # upload_folder leaves out .git/ itself (huggingface_hub's default ignore patterns).
    return api.upload_folder(repo_id=repo_id, folder_path=project_dir, commit_message=message).commit_url


def _token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PublishError("no Hugging Face token: run `hf auth login` or set HF_TOKEN")
    return token
