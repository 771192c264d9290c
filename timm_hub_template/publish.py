"""Publishing the checked folder: one initial git commit (weights in Git LFS) and the opt-in push to the Hub.

Neither step can lose the generated folder: a missing git, git-lfs, token or network, a Hub that does not answer
(every request has `push_timeout` seconds) or an interrupt is reported in one line and the folder stays complete,
ready to commit or upload by hand. Only the files this run wrote, as it wrote them, are committed and uploaded: files
the user kept in the folder (a `-f` run into an existing folder), files that appeared or changed during the run are
named and left out. The Hub repository must have the visibility asked for (`private`), or nothing is uploaded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from timm_hub_template import lfs
from timm_hub_template.errors import first_line
from timm_hub_template.report import say

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers

# The identity of the initial commit when git has none configured; the user's git config is never written.
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "timm-hub-template",
    "GIT_AUTHOR_EMAIL": "timm-hub-template@localhost",
    "GIT_COMMITTER_NAME": "timm-hub-template",
    "GIT_COMMITTER_EMAIL": "timm-hub-template@localhost",
}


class PublishError(Exception):
    """A publishing step that did not happen, with what to do instead."""


@dataclasses.dataclass(frozen=True)
class Published:
    """What publishing did: the repo id it used, the initial commit and the Hub commit URL ("" when not done)."""

    repo_id: str = ""
    commit: str = ""
    url: str = ""
    left_out: tuple[str, ...] = ()  # the folder's files that are not the run's: not committed, not uploaded


def _git(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        output = " ".join((result.stderr or result.stdout).split())
        raise PublishError(f"git {args[0]} failed: {output[:300]}")
    return result.stdout.strip()


def git_init(
    project_dir: Path, message: str, files: list[str] | None = None, digests: Mapping[str, str] | None = None
) -> str:
    """`git init` the folder and commit `files` (default: every file), the weights through Git LFS; returns the
    commit hash.

    Git LFS is installed into this repository only (`git lfs install --local`): without it the weights would be
    committed as a plain blob, which the Hub refuses. `digests`: the SHA-256 of files whose content the run knows
    (as it wrote them); those that go to LFS are stored without git-lfs hashing them again (`lfs.known_objects`).
    """
    if shutil.which("git") is None:
        raise PublishError("git is not installed: the folder was not made a git repository")
    inside = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=project_dir, capture_output=True, text=True, check=False
    )
    if inside.returncode == 0:
        top = inside.stdout.strip()
        if Path(top).resolve() == Path(project_dir).resolve():
            raise PublishError(
                "the folder is already a git repository (an earlier run's?): not committed again; commit the "
                "changes there"
            )
        raise PublishError(f"the folder is inside the git repository {top}: commit it there (no nested repository)")
    if subprocess.run(["git", "lfs", "version"], capture_output=True, check=False).returncode != 0:
        raise PublishError(
            "git-lfs is not installed, and the Hub needs the weights in Git LFS: the folder was not made a git "
            "repository (install git-lfs, then run `git init && git lfs install --local` in it)"
        )
    env = dict(os.environ, GIT_LITERAL_PATHSPECS="1")  # file names, never patterns
    configured = subprocess.run(["git", "config", "user.email"], capture_output=True, check=False).returncode == 0
    if not configured:
        env.update(FALLBACK_IDENTITY)
    try:
        _git(project_dir, "init", "--quiet", "--initial-branch=main")
        _git(project_dir, "lfs", "install", "--local")
        names = [*files] if files is not None else []
        known = {
            name: digests[name]
            for name in lfs.lfs_tracked(project_dir, names)
            if digests and name in digests and lfs.PLAIN_NAME.fullmatch(name)
        }
        try:
            with lfs.known_objects(project_dir, known) as filter_options:
                _git(
                    project_dir, *filter_options, "add", *(["--", *names] if files is not None else ["--all"]), env=env
                )
        except OSError as error:  # a file changed since the run wrote it, or the disk is full
            raise PublishError(f"could not store the Git LFS objects: {first_line(error)}") from error
        _git(project_dir, "commit", "--quiet", "--message", message, env=env)
        return _git(project_dir, "rev-parse", "HEAD")
    except BaseException:  # a failed step or an interrupt: no half-made repository
        shutil.rmtree(project_dir / ".git", ignore_errors=True)
        raise


def with_hub_owner(answers: Answers) -> tuple[Answers, str]:
    """`answers` with `hub_owner` set to the token's user when pushing without one (the card names the repo id, so
    this is asked before the card is written), and why a push cannot happen ("" when it can)."""
    if not answers.push_to_hub or answers.hub_owner:
        return answers, ""
    from huggingface_hub import HfApi

    try:
        with hub_timeout(answers.push_timeout):
            return dataclasses.replace(answers, hub_owner=HfApi().whoami(token=_token())["name"]), ""
    except Exception as error:  # noqa: BLE001 - token, HTTP and network errors have no common base class
        return answers, reason(error)


def publish_folder(
    project_dir: Path,
    answers: Answers,
    push_problem: str = "",
    foreign: tuple[str, ...] = (),
    files: list[str] | None = None,
    digests: Mapping[str, str] | None = None,
) -> Published:
    """The opt-in git commit and Hub push of a checked folder; each failure is one line and changes nothing.

    `push_problem`: why the push cannot happen, found before the export (no token to ask the owner with).
    `files`: the files this run wrote, as it wrote them (default: the folder's files but `foreign`), the only ones
    committed and uploaded; `foreign`: the folder's other files, named in a warning; `digests`: the SHA-256 of
    those files as the run wrote them.
    """
    message = f"Add {answers.architecture} generated by timm-hub-template"
    commit = url = ""
    files = published_files(project_dir, foreign) if files is None else files
    if foreign and (answers.git_init or answers.push_to_hub):
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        say(f"Warning: not committed or uploaded, since this run did not write them: {shown}", error=True)
    if answers.git_init:
        try:
            commit = git_init(project_dir, message, files, digests)
            say(f"Committed the folder in git as {commit[:12]} (model.safetensors in Git LFS)")
        except PublishError as error:
            say(f"Warning: {error}", error=True)
    if answers.push_to_hub:
        try:
            if push_problem:
                raise PublishError(push_problem)
            url = push(project_dir, answers.repo_id, answers.private, message, answers.push_timeout, files)
            say(f"Pushed to the Hub: {url}")
        except Exception as error:  # noqa: BLE001 - token, HTTP and network errors have no common base class
            say(
                f"Warning: not pushed to the Hub ({reason(error)}); the folder is complete: "
                f"upload it with `{upload_command(answers.repo_id, project_dir, foreign)}`",
                error=True,
            )
    return Published(answers.repo_id, commit, url, foreign)


def published_files(project_dir: Path, foreign: tuple[str, ...]) -> list[str]:
    """The folder's files but `.git/` and `foreign`, as relative POSIX paths."""
    left_out = set(foreign)
    files = []
    for root, folders, names in os.walk(project_dir):
        folders[:] = [name for name in folders if not (Path(root) == project_dir and name == ".git")]
        files += [Path(root, name).relative_to(project_dir).as_posix() for name in names]
    return sorted(name for name in files if name not in left_out)


def upload_command(repo_id: str, project_dir: Path, foreign: tuple[str, ...] = ()) -> str:
    """The `hf upload` command that publishes the folder by hand, leaving out `foreign` files."""
    excluded = "".join(f" --exclude {shlex.quote(name)}" for name in foreign)
    return f"hf upload {repo_id} {shlex.quote(str(project_dir))}{excluded}"


def reason(error: Exception) -> str:
    """One line: our own messages as they are, others (HTTP, network) with their type."""
    if isinstance(error, PublishError):
        return first_line(error)
    return f"{type(error).__name__}: {first_line(error)}"


def push(
    project_dir: Path, repo_id: str, private: bool, message: str, timeout: float = 60.0, files: list[str] | None = None
) -> str:
    """Create the Hub repo (if needed) and upload `files` of the folder (default: all) in one commit; returns the
    commit URL. Each request waits at most `timeout` seconds for the Hub (connecting, sending, answering)."""
    from huggingface_hub import HfApi

    with hub_timeout(timeout):
        api = HfApi(token=_token())
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        # create_repo(exist_ok=True) leaves an existing repository's visibility as it is.
        existing = bool(api.repo_info(repo_id, repo_type="model").private)
        if existing != private:
            from huggingface_hub import constants

            raise PublishError(
                f"the Hub repository {repo_id} is {_visibility(existing)}, not {_visibility(private)} as "
                f"private={'yes' if private else 'no'} asks: nothing was uploaded; change its visibility in its "
                f"settings ({constants.ENDPOINT}/{repo_id}/settings), or generate with private="
                f"{'yes' if existing else 'no'}"
            )
        # upload_folder leaves out .git/ itself (huggingface_hub's default ignore patterns).
        return api.upload_folder(
            repo_id=repo_id, folder_path=project_dir, commit_message=message, allow_patterns=files
        ).commit_url


def _visibility(private: bool) -> str:
    return "private" if private else "public"


@contextlib.contextmanager
def hub_timeout(seconds: float):
    """huggingface_hub's HTTP client with a timeout on every request (its default waits forever), restored after."""
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http

    # The factory in use (the user's own, if they set one), which set_client_factory does not expose.
    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

    def client_with_timeout():
        client = previous()
        client.timeout = type(client.timeout)(seconds)  # httpx's Timeout, as the client's library has it
        return client

    set_client_factory(client_with_timeout)
    try:
        yield
    finally:
        set_client_factory(previous)


def _token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PublishError("no Hugging Face token: run `hf auth login` or set HF_TOKEN")
    return token
