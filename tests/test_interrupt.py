"""Issue 13: an interrupted run (Ctrl-C or SIGTERM to cookiecutter's process group) never leaves a folder that looks
complete: no folder when the run created it, or one holding GENERATION_INCOMPLETE.txt.

Each case starts the cookiecutter command line, waits until the generation reaches a moment (a file appears in
the folder), then signals the whole process group, as a terminal's Ctrl-C or a scheduler's SIGTERM does.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from support import TEMPLATE_DIR

from timm_hub_template.generate import INCOMPLETE_MARKER

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


def start(output_dir, *variables):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output_dir), str(TEMPLATE_DIR)]
    return subprocess.Popen(
        [*command, f"architecture={ARCHITECTURE}", "weights=random", *variables],
        start_new_session=True,  # its own process group, signalled as a whole
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process, timeout=300.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"finished before {path.name} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.01)


def assert_not_complete_looking(folder):
    """No folder, or one that says it is incomplete."""
    if folder.exists():
        assert (folder / INCOMPLETE_MARKER.name).read_text() == INCOMPLETE_MARKER.text, sorted(os.listdir(folder))


@pytest.mark.parametrize(
    ("sent", "moment"),
    [
        (signal.SIGINT, f"modeling_{ARCHITECTURE}.py"),  # rendering the templates
        (signal.SIGINT, "model.safetensors"),  # saving the weights
        (signal.SIGINT, "preprocessor_config.json"),  # saving the processor, counting stats
        (signal.SIGINT, "README.md"),  # verifying
        (signal.SIGTERM, "model.safetensors"),
        (signal.SIGTERM, "README.md"),
    ],
)
def test_interrupt_leaves_no_finished_looking_folder(tmp_path, sent, moment):
    process = start(tmp_path, "git_init=no")
    wait_for(tmp_path / FOLDER / moment, process)
    os.killpg(process.pid, sent)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0, stderr[-2000:]
    assert_not_complete_looking(tmp_path / FOLDER)


def test_interrupt_into_an_existing_folder_leaves_it_marked_incomplete(tmp_path):
    """With -f into a folder it did not create, cookiecutter removes nothing: the folder says it is incomplete."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    process = start(tmp_path, "git_init=no", "-f")
    wait_for(folder / "model.safetensors", process)
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=300)
    assert process.returncode != 0
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / INCOMPLETE_MARKER.name).exists()


def test_a_finished_run_has_no_marker(tmp_path):
    process = start(tmp_path, "git_init=no")
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-2000:]
    assert not (tmp_path / FOLDER / INCOMPLETE_MARKER.name).exists()
    assert (tmp_path / FOLDER / "model.safetensors").exists() and "Verified:" in stdout
