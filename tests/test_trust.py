"""Nothing leaked, nothing lost: what a checkpoint names, what `-f` publishes, finished work, bad input.

A checkpoint from someone else is data: the files it names are read only when a real training run would have used
them, and never become published class names otherwise. `-f` into a folder with the user's files publishes only what
the run wrote. Finished work survives its own reporting (a closed stdout), a Hub that never answers, and an
interrupt while publishing. Every bad input is one line, from the first second of the run.

The checks of the answers are exercised through `answers.parse` (what the pre-generation hook runs, with the folder
the user ran the template from); the rest through the cookiecutter command line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import timm
import torch
from helpers.support import TEMPLATE_DIR, template_variables
from helpers.training_run import train_py_args

from timm_hub_template.answers import error, parse
from timm_hub_template.run_files import INCOMPLETE_MARKER

ARCHITECTURE = "resnet10t"
FOLDER = f"custom-{ARCHITECTURE}"
BASE = template_variables(architecture=ARCHITECTURE, weights="random", git_init="no")


def crafted_checkpoint(path, classes, **args):
    """A `.pth.tar` laid out as train.py saves it, with `args` set by whoever made it."""
    torch.manual_seed(0)
    model = timm.create_model(ARCHITECTURE, num_classes=classes)
    namespace = train_py_args(model=ARCHITECTURE, num_classes=classes)
    vars(namespace).update(args)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "args": namespace, "epoch": 0, "version": 2}, path)
    return path


def answers_from(folder, **changes):
    return parse({**BASE, **changes}, folder)


def refusal(folder=None, **changes):
    line = error({**BASE, **changes}, folder)
    assert line and "\n" not in line
    return line


# --- 1. A checkpoint cannot copy a local file into what is published ---------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user's home with a Hub token and an SSH key, and a training folder in it."""
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text("hf_SECRETTOKEN\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY LINE\n")
    (home / "project" / "data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize(
    ("class_map", "data_dir", "classes", "why"),
    [
        ("~/.cache/huggingface/token", "", 1, "a '~' path"),
        ("{home}/.cache/huggingface/token", "", 1, "outside the folder"),
        ("token", "{home}/.cache/huggingface", 1, "hidden folder (.cache)"),
        ("id_ed25519", "{home}/.ssh", 1, "hidden folder (.ssh)"),
        ("/etc/passwd", "", "passwd", "outside the folder"),
        ("passwd", "/etc", "passwd", "system folder /etc"),
        ("hostname", "/etc", 1, "system folder /etc"),
        ("project/notes.txt", "{home}", 1, "is your home folder or holds it"),
        ("{home}/project/notes.txt", "/", 1, "is your home folder or holds it"),
        ("link.txt", "data", 1, "outside the folder"),  # a symbolic link in the training folder to the SSH key
        ("inside.txt", "data", 1, "hidden folder (.secrets)"),  # a link to a hidden folder of the training folder
        ("big.txt", "data", 1, "larger than a class map of 1 classes"),
        ("three.txt", "data", 2, "has 3 names for a head of 2 classes"),
        ("names.pkl", "data", 1, "not a .txt class map"),
        ("binary.txt", "data", 1, "not UTF-8"),
        ("missing.txt", "data", 1, "no such file"),
    ],
)
def test_a_checkpoint_cannot_name_a_file_to_publish(home, class_map, data_dir, classes, why):
    project = home / "project"
    os.symlink(home / ".ssh" / "id_ed25519", project / "link.txt")
    (project / ".secrets").mkdir()
    (project / ".secrets" / "key.txt").write_text("PRIVATE\n")
    os.symlink(project / ".secrets" / "key.txt", project / "inside.txt")
    (project / "data" / "big.txt").write_text("x" * 5000 + "\n")
    (project / "data" / "three.txt").write_text("a\nb\nc\n")
    (project / "data" / "names.pkl").write_bytes(b"\x80\x04N.")
    (project / "data" / "binary.txt").write_bytes(b"\xff\xfe\x00secret\n")
    (project / "notes.txt").write_text("a private note\n")
    if classes == "passwd":
        classes = len([line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()])
    crafted_checkpoint(
        project / "model_best.pth.tar",
        classes,
        class_map=class_map.format(home=home),
        data_dir=data_dir.format(home=home),
    )
    parsed = answers_from(project, weights="model_best.pth.tar")
    assert parsed.labels == () and parsed.labels_file is None and parsed.labels_source == ""
    [warning] = parsed.warnings
    assert why in warning and "pass labels=" in warning
    assert repr(class_map.format(home=home)) in warning  # names the file


def test_train_py_class_maps_are_still_read(home):
    """A relative --class-map next to the data, and an absolute one under --data-dir, as timm finds them."""
    project = home / "project"
    (project / "data" / "classes.txt").write_text("cat\ndog\n")
    relative = crafted_checkpoint(project / "a.pth.tar", 2, class_map="classes.txt", data_dir="data")
    absolute = crafted_checkpoint(
        project / "b.pth.tar", 2, class_map=str(project / "data" / "classes.txt"), data_dir=str(project / "data")
    )
    for weights in (relative, absolute):
        parsed = answers_from(project, weights=weights.name)
        assert parsed.labels == ("cat", "dog") and parsed.warnings == ()
        assert parsed.labels_file == (project / "data" / "classes.txt").resolve()


@pytest.mark.slow
def test_a_declined_class_map_is_said_once_and_published_unnamed(home, tmp_path):
    project = home / "project"
    crafted_checkpoint(project / "model_best.pth.tar", 1, class_map="~/.cache/huggingface/token")
    result = run(project, "weights=model_best.pth.tar", output="out")
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and "'~/.cache/huggingface/token' was not read" in warnings[0]
    assert "Labels: none" in result.stdout
    folder = project / "out" / FOLDER
    for path in folder.iterdir():
        assert b"SECRETTOKEN" not in path.read_bytes(), path.name
    assert json.loads((folder / "config.json").read_text()).get("label_names") in (None, ["LABEL_0"])
    assert "unnamed (`LABEL_0` to `LABEL_0`)" in (folder / "README.md").read_text()


# --- 2. -f publishes only the run's files ---------------------------------------------------------------------------


@pytest.mark.slow
def test_overwrite_keeps_the_users_files_out_of_the_commit_and_the_push(tmp_path, hub):
    folder = tmp_path / FOLDER
    (folder / "private").mkdir(parents=True)
    (folder / "secret.env").write_text("API_KEY=1\n")
    (folder / "private" / "notes.txt").write_text("mine\n")
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"an older run's shard")
    (folder / "README.md").write_text("my old card")  # a file the template writes: replaced, and published
    result = run(tmp_path, "git_init=yes", "push_to_hub=yes", "hub_owner=acme", overwrite=True)
    assert result.returncode == 0, result.stderr[-2000:]
    foreign = ["model-00001-of-00002.safetensors", "private/notes.txt", "secret.env"]
    assert f"not committed or uploaded, since this run did not write them: {', '.join(foreign)}" in result.stderr
    committed = subprocess.run(
        ["git", "ls-files"], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.split()
    uploaded = sorted(hub.repo(f"acme/{FOLDER}").files)
    assert not set(foreign) & set(committed) and not set(foreign) & set(uploaded)
    assert "README.md" in committed and "README.md" in uploaded and "model.safetensors" in uploaded
    assert (folder / "secret.env").read_text() == "API_KEY=1\n"  # kept, untouched
    assert "--exclude secret.env" not in result.stdout  # pushed: nothing left to upload by hand


# --- 3. and 4. Reporting and publishing never delete finished work --------------------------------------------------


def run(cwd, *variables, output=".", overwrite=False, env=None, **popen):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", output, str(TEMPLATE_DIR)]
    command += ["-f"] if overwrite else []
    command += [f"architecture={ARCHITECTURE}", "weights=random", "git_init=no", *variables]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}, **popen
    )


def assert_complete(folder):
    assert folder.is_dir() and not (folder / INCOMPLETE_MARKER.name).exists()
    assert {"config.json", "model.safetensors", "README.md"} <= {path.name for path in folder.iterdir()}


@pytest.mark.slow
@pytest.mark.parametrize("shell_output", ["| true", "| head -1", "> /dev/full"])
def test_a_failing_stdout_never_deletes_the_verified_folder(tmp_path, shell_output):
    command = (
        f"{sys.executable} -m cookiecutter --no-input {TEMPLATE_DIR} architecture={ARCHITECTURE} "
        f'weights=random git_init=no {shell_output}; echo "exit=${{PIPESTATUS[0]}}" >&2'
    )
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "exit=0" in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert_complete(tmp_path / FOLDER)


class SilentHub:
    """A Hub endpoint that accepts connections and never answers."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.connections: list[socket.socket] = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            self.connected.set()

    def close(self):
        self.server.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def silent_hub():
    hub = SilentHub()
    yield hub
    hub.close()


@pytest.mark.slow
def test_a_hub_that_never_answers_times_out_and_keeps_the_folder(tmp_path, silent_hub):
    env = {"HF_ENDPOINT": silent_hub.url, "HF_TOKEN": "hf_test", "HF_HUB_OFFLINE": "0"}
    result = run(tmp_path, "push_to_hub=yes", "hub_owner=acme", "push_timeout=1", env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Warning: not pushed to the Hub (" in result.stderr and "Timeout" in result.stderr
    assert f"hf upload acme/{FOLDER} {tmp_path / FOLDER}" in result.stderr
    assert_complete(tmp_path / FOLDER)


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_pushing_keeps_the_verified_folder(tmp_path, silent_hub, sent):
    env = {**os.environ, "HF_ENDPOINT": silent_hub.url, "HF_TOKEN": "hf_test", "HF_HUB_OFFLINE": "0"}
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), f"architecture={ARCHITECTURE}"]
    command += ["weights=random", "git_init=no", "push_to_hub=yes", "hub_owner=acme", "push_timeout=600"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert silent_hub.connected.wait(300), process.communicate()
    os.killpg(process.pid, sent)
    _, stderr = process.communicate(timeout=120)
    assert "interrupted while publishing; the folder is complete and verified" in stderr, stderr[-2000:]
    assert f"hf upload acme/{FOLDER} {tmp_path / FOLDER}" in stderr
    assert_complete(tmp_path / FOLDER)


# --- 5. to 9. Bad input is one line ---------------------------------------------------------------------------------


def deeply_nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_args": '{"a": ' + deeply_nested(10_000) + "}"}, "model_args is nested too deeply"),
        ({"data_config": '{"mean": ' + deeply_nested(10_000) + "}"}, "data_config is nested too deeply"),
        ({"model_args": '{"a": ' + deeply_nested(40) + "}"}, "model_args is nested too deeply"),
        ({"num_labels": "²"}, "num_labels '²' must be 'auto'"),
        ({"num_labels": "١٢"}, "num_labels '١٢' must be 'auto'"),
        ({"model_args": '{"drop_rate": NaN}'}, "NaN is not a number JSON allows"),
        ({"model_args": '{"drop_rate": Infinity}'}, "Infinity is not a number JSON allows"),
        ({"data_config": '{"crop_pct": 1e999}'}, "too large for a float"),
        ({"labels": "typo.csv"}, "labels file 'typo.csv' does not exist"),
        ({"labels": "labels/classes"}, "labels file 'labels/classes' does not exist"),
        ({"labels": "/dev/stdin"}, "is not a regular file"),
        ({"push_timeout": "0"}, "push_timeout must be a number of seconds"),
        ({"push_timeout": "nan"}, "push_timeout must be a number of seconds"),
    ],
)
def test_malformed_answers_are_one_line(tmp_path, changes, message):
    assert message in refusal(tmp_path, **changes)


def test_a_labels_file_that_is_not_text_is_one_line(tmp_path):
    (tmp_path / "labels.txt").write_bytes(b"\xff\xfe\x00\x01cat\n")
    assert "labels file labels.txt is not UTF-8 text" in refusal(tmp_path, labels="labels.txt")
    (tmp_path / "labels.json").write_text('{"0": ' + deeply_nested(100_000) + "}")
    assert "labels file labels.json is not valid JSON" in refusal(tmp_path, labels="labels.json")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"num_classes": "abc"}, "num_classes"),
        ({"input_size": 5}, "input_size"),
        ({"model_kwargs": ["a"]}, "model_kwargs"),
        ({"in_chans": -1}, "in_chans"),
        ({"mean": [float("nan")]}, "mean"),
        ({"class_map": 7}, "class_map"),
    ],
)
def test_malformed_checkpoint_args_are_one_line(tmp_path, args, field):
    namespace = train_py_args(model=ARCHITECTURE, num_classes=1000)
    vars(namespace).update(args)
    model = timm.create_model(ARCHITECTURE)
    torch.save({"state_dict": model.state_dict(), "args": namespace}, tmp_path / "model_best.pth.tar")
    line = refusal(tmp_path, weights="model_best.pth.tar")
    assert f"has an unusable args.{field} (" in line


def test_labels_are_checked_in_linear_time():
    """300,000 labels (with one repeat at the end) are checked within seconds; the former pairwise count took minutes.
    A bound on liveness, not a speed target: a quadratic check does not finish within the timeout."""
    code = (
        "from timm_hub_template.errors import AnswerError\n"
        "from timm_hub_template.labels import _check_names\n"
        "names = tuple(f'class {i}' for i in range(300_000)) + ('class 7',)\n"
        "try:\n    _check_names(names, 'labels')\nexcept AnswerError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=TEMPLATE_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    assert "repeated: class 7" in result.stdout


def test_an_unwritable_modules_cache_is_refused_first(tmp_path):
    result = run(tmp_path, env={"HF_MODULES_CACHE": "/dev/null/modules"})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and "HF_MODULES_CACHE" in lines[0] and "/dev/null/modules" in lines[0]
    assert not (tmp_path / FOLDER).exists()


def test_checkpoint_errors_say_what_is_wrong(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    assert "weights file" in refusal(tmp_path, weights="empty.pth") and "is empty (0 bytes)" in refusal(
        tmp_path, weights="empty.pth"
    )
    from timm_hub_template.errors import ExportError
    from timm_hub_template.weights import check_keys

    model = timm.create_model(ARCHITECTURE)
    expected = model.state_dict()
    given = {key: value.to(torch.int32) if key == "fc.weight" else value for key, value in expected.items()}
    given["\x1b[31mevil\x1b[0m"] = torch.zeros(1)
    with pytest.raises(ExportError) as raised:
        check_keys(expected, given, "checkpoint x.pth does not fit resnet10t")
    message = str(raised.value)
    assert "wrong dtypes (1): fc.weight int32 for float32" in message
    assert "\x1b" not in message and "\\x1b[31mevil" in message


@pytest.mark.slow
def test_a_tampered_config_naming_an_unknown_component_is_one_line(tmp_path):
    """Nested config values name components too (ByobNet's block dataclasses): an unknown name is one ValueError
    listing the valid ones, never a lookup of something else."""
    from transformers import AutoModel

    run(tmp_path, "architecture=gernet_s")
    folder = tmp_path / "custom-gernet_s"
    text = (folder / "config.json").read_text()
    assert '"__dataclass__": "ByoBlockCfg"' in text
    (folder / "config.json").write_text(
        text.replace('"__dataclass__": "ByoBlockCfg"', '"__dataclass__": "os.system"', 1)
    )
    with pytest.raises(ValueError, match=r"^unknown component 'os.system' in the config; valid: ByoBlockCfg, "):
        AutoModel.from_pretrained(folder, trust_remote_code=True)


# --- 6. Interrupted from the first second; concurrent runs ---------------------------------------------------------


def start(cwd, *variables, overwrite=False):
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), f"architecture={ARCHITECTURE}"]
    command += (["-f"] if overwrite else []) + ["weights=random", "git_init=no", *variables]
    return subprocess.Popen(
        command, cwd=cwd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_the_pre_generation_hook(process, timeout=300.0):
    """Until cookiecutter runs the pre-generation hook, the one process it starts (a fixed delay raced the
    interpreter's start on a loaded machine)."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    while not children.read_text().split():
        assert process.poll() is None, f"finished before its hook ran: {process.communicate()}"
        assert time.monotonic() < deadline, "the pre-generation hook did not start"
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def interruptible_children():
    """Children of a shell's background job inherit an ignored SIGINT; give them the default, as a terminal does."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_as_soon_as_the_folder_exists_leaves_no_folder(tmp_path, sent):
    """The moment cookiecutter creates the folder, the pre-generation checks start (importing timm takes seconds):
    an interrupt there used to leave an empty folder that blocked the next run."""
    process = start(tmp_path)
    folder = tmp_path / FOLDER
    while not folder.exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    os.killpg(process.pid, sent)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert not folder.exists()


@pytest.mark.slow
def test_an_early_interrupt_with_overwrite_leaves_the_users_folder_as_it_was(tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    process = start(tmp_path, overwrite=True)
    wait_for_the_pre_generation_hook(process)  # its checks take seconds: nothing is written into the folder yet
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    assert sorted(path.name for path in folder.iterdir()) in (
        ["notes.txt"],
        sorted(["notes.txt", INCOMPLETE_MARKER.name]),
    )
    assert (folder / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_two_runs_into_one_folder_take_turns(tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    first, second = start(tmp_path, overwrite=True), start(tmp_path, overwrite=True)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert any("Waiting for another run that is generating into" in stderr for _, stderr in outputs)
    assert_complete(folder)


def test_a_cookiecutter_that_no_longer_calls_the_template_as_expected_is_one_line():
    """What the template reads of cookiecutter's run (the run that `generate_files` begins) is missing when a hook is
    rendered without it: one line naming the cookiecutter version, not a traceback."""
    from importlib.metadata import version

    from jinja2 import Environment

    from timm_hub_template.jinja_extension import TimmHubExtension

    template = Environment(extensions=[TimmHubExtension]).from_string("{{ {} | prepare_generation }}")
    line = template.render()
    assert line.startswith("timm-hub-template cannot find the project folder")
    assert f"in cookiecutter {version('cookiecutter')}:" in line
