"""An interrupted run (Ctrl-C or SIGTERM to cookiecutter's process group) never leaves a folder
that looks complete: no folder when the run created it, and with -f into an existing folder one holding
GENERATION_INCOMPLETE.txt (at every moment), or, interrupted while committing, no half-made .git.

Each case starts the cookiecutter command line, waits until the generation reaches a moment (a file appears in
the folder), then signals the whole process group, as a terminal's Ctrl-C or a scheduler's SIGTERM does.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers.support import TEMPLATE_DIR

from timm_hub_template.run_files import INCOMPLETE_MARKER

ARCHITECTURE = "resnet18"
FOLDER = f"custom-{ARCHITECTURE}"


@pytest.fixture(autouse=True)
def interruptible_children():
    """Children inherit an ignored SIGINT (a shell's background job ignores it, and Python then keeps ignoring it):
    handle it in this process meanwhile, so they start with the default, as a terminal's foreground job does."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def start(output_dir, *variables, env=None):
    """The command line, with a modules cache of its own: the verification's first load copies the code there."""
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir), str(TEMPLATE_DIR)]
    return subprocess.Popen(
        [*command, f"architecture={ARCHITECTURE}", "weights=random", *variables],
        start_new_session=True,  # its own process group, signalled as a whole
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_MODULES_CACHE": str(output_dir / "modules"), **(env or {})},
    )


def wait_for(pattern, output_dir, process, timeout=300.0):
    """Until a file matching `pattern` (a glob under `output_dir`) exists."""
    deadline = time.monotonic() + timeout
    while not any(output_dir.glob(pattern)):
        assert process.poll() is None, f"finished before {pattern} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{pattern} did not appear"
        time.sleep(0.01)


RENDERING = f"{FOLDER}/modeling_{ARCHITECTURE}.py"
WEIGHTS = f"{FOLDER}/model.safetensors"
CARD = f"{FOLDER}/README.md"  # the card written, the verification about to start
VERIFYING = f"modules/**/modeling_{ARCHITECTURE}.py"  # the verification's first load through the Auto classes
MOMENTS = [
    (signal.SIGINT, RENDERING),
    (signal.SIGINT, WEIGHTS),
    (signal.SIGINT, CARD),
    (signal.SIGINT, VERIFYING),
    (signal.SIGTERM, WEIGHTS),
    (signal.SIGTERM, VERIFYING),
]
QUICK = [(signal.SIGINT, WEIGHTS), (signal.SIGINT, VERIFYING)]  # the others are marked slow
MOMENTS = [pytest.param(*moment, marks=[] if moment in QUICK else [pytest.mark.slow]) for moment in MOMENTS]


@pytest.mark.parametrize(("sent", "moment"), MOMENTS)
def test_interrupt_leaves_no_folder_where_the_run_created_it(tmp_path, sent, moment):
    process = start(tmp_path, "git_init=no")
    wait_for(moment, tmp_path, process)
    os.killpg(process.pid, sent)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0, stderr[-2000:]
    assert not (tmp_path / FOLDER).exists(), sorted(os.listdir(tmp_path / FOLDER))


@pytest.mark.parametrize(("sent", "moment"), MOMENTS)
def test_interrupt_into_an_existing_folder_leaves_it_marked_incomplete(tmp_path, sent, moment):
    """With -f into a folder it did not create, cookiecutter removes nothing: the folder says it is incomplete."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    process = start(tmp_path, "git_init=no", "-f")
    wait_for(moment, tmp_path, process)
    os.killpg(process.pid, sent)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0, stderr[-2000:]
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / INCOMPLETE_MARKER.name).read_text() == INCOMPLETE_MARKER.text, sorted(os.listdir(folder))


@pytest.mark.slow
def test_interrupt_while_committing_leaves_no_half_made_git_repository(tmp_path):
    """git_init=yes, -f into an existing folder, Ctrl-C during `git commit`: the verified files stay, .git goes
    (README: "a half-made `.git` is removed").

    A pre-commit hook (the user's own `core.hooksPath`, given through git's environment) says the commit has started
    and waits, so the signal always arrives while committing, however fast git is on the machine.
    """
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text(f"#!/bin/sh\ntouch {tmp_path / 'committing'}\nsleep 300\n")
    (hooks / "pre-commit").chmod(0o755)
    hooks_path = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath", "GIT_CONFIG_VALUE_0": str(hooks)}
    process = start(tmp_path, "git_init=yes", "-f", env=hooks_path)
    wait_for("committing", tmp_path, process)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert "interrupted while publishing" in stderr, stderr[-2000:]  # the folder is finished: it says how to upload
    assert "Committed" not in stdout, stdout[-2000:]
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "model.safetensors").exists()  # the verified files stay
    assert not (folder / ".git").exists(), sorted(os.listdir(folder / ".git"))


def test_a_finished_run_has_no_marker(tmp_path):
    process = start(tmp_path, "git_init=no")
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    assert not (tmp_path / FOLDER / INCOMPLETE_MARKER.name).exists()
    assert (tmp_path / FOLDER / "model.safetensors").exists() and "Verified:" in stdout
