"""Nothing leaked, nothing lost: links, what is committed and pushed, who may publish, and the card's hash.

A `-f` run never writes through a link to a file outside its folder; the commit and the push take exactly the files
the run wrote, as it wrote them; only a run asked for by cookiecutter (command line, Python API) or `cruft create`
publishes (`cruft diff` does not); a Hub repository of another visibility than asked is not pushed to; what a run
installs in the caller's process ends with it; the card's SHA-256 is that of the weights published.

Real cookiecutter, git and cruft; the Hub is the loopback `FakeHub` (tests/helpers/fake_hub.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from helpers.fake_hub import Repo
from helpers.support import TEMPLATE_DIR, template_variables
from test_publish import CRUFT, template_checkout

from timm_hub_template import cookiecutter_run
from timm_hub_template.answers import error, parse

ARCHITECTURE = "resnet10t"
FOLDER = f"custom-{ARCHITECTURE}"
BASE = template_variables(architecture=ARCHITECTURE, weights="random", git_init="no")


def command(*variables, output=".", overwrite=False):
    line = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output), str(TEMPLATE_DIR)]
    line += ["-f"] if overwrite else []
    return [*line, f"architecture={ARCHITECTURE}", "weights=random", "git_init=no", *variables]


def run(cwd, *variables, overwrite=False, env=None):
    return subprocess.run(
        command(*variables, overwrite=overwrite),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith("Warning: ")]


# --- 1. -f never writes through a link -------------------------------------------------------------------------------


def test_overwrite_replaces_links_and_writes_nothing_outside_the_folder(tmp_path, hub):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    originals = {
        "config.json": b'{"mine": true}\n',
        "requirements.txt": b"my-package==1.0\n",
        "trained.safetensors": b"a trained checkpoint",
        "modeling.py": b"# my own modeling code\n",
        "attributes": b"*.bin -text\n",
        "marker.txt": b"mine\n",
    }
    for name, content in originals.items():
        (outside / name).write_bytes(content)
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / "config.json").symlink_to(outside / "config.json")
    os.link(outside / "requirements.txt", folder / "requirements.txt")  # a hard link
    (folder / "model.safetensors").symlink_to(outside / "trained.safetensors")
    (folder / f"modeling_{ARCHITECTURE}.py").symlink_to(outside / "modeling.py")  # rendered by cookiecutter itself
    os.link(outside / "attributes", folder / ".gitattributes")  # rendered by cookiecutter, copied as it is
    (folder / "GENERATION_INCOMPLETE.txt").symlink_to(outside / "marker.txt")  # written by the pre-generation hook

    result = run(tmp_path, "push_to_hub=yes", "hub_owner=acme", overwrite=True)

    assert result.returncode == 0, result.stderr[-3000:]
    for name, content in originals.items():
        assert (outside / name).read_bytes() == content, f"{name} outside the folder was written"
    written = ["config.json", "requirements.txt", "model.safetensors", f"modeling_{ARCHITECTURE}.py", ".gitattributes"]
    for name in written:
        status = (folder / name).lstat()
        assert not (folder / name).is_symlink() and status.st_nlink == 1, name
    assert not (folder / "GENERATION_INCOMPLETE.txt").exists()
    assert json.loads((folder / "config.json").read_text())["architectures"]
    uploaded = hub.repo(f"acme/{FOLDER}").files
    for name in written:
        assert uploaded[name] == (folder / name).read_bytes(), name
    assert warnings(result.stderr) == []  # every file of the folder is the run's now


# --- 2. Files that appear during the run are not published -----------------------------------------------------------


def test_files_that_appear_or_change_during_the_run_are_not_published(tmp_path, hub):
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")}
    process = subprocess.Popen(
        command("push_to_hub=yes", "hub_owner=acme"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The verification's first load copies the code into the modules cache: the folder is written, not yet published.
    deadline = time.monotonic() + 300
    while not any((tmp_path / "modules").glob(f"**/modeling_{ARCHITECTURE}.py")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    folder = tmp_path / FOLDER
    (folder / ".env.local").write_text("API_KEY=secret\n")
    (folder / "notes.txt").write_text("private notes\n")
    with (folder / "requirements.txt").open("a") as requirements:
        requirements.write("an-edit-during-the-run\n")
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 0, stderr[-3000:]
    uploaded = hub.repo(f"acme/{FOLDER}").files
    assert ".env.local" not in uploaded and "notes.txt" not in uploaded
    assert "requirements.txt" not in uploaded  # not as the run wrote it any more
    assert {"config.json", "model.safetensors", "README.md", f"modeling_{ARCHITECTURE}.py"} <= set(uploaded)
    [warning] = warnings(stderr)
    assert "not committed or uploaded" in warning
    assert all(name in warning for name in (".env.local", "notes.txt", "requirements.txt")), warning


# --- 3. Only a run asked to publish publishes: not cruft diff ---------------------------------------------------------


@pytest.mark.slow
def test_cruft_diff_neither_commits_nor_pushes(tmp_path, hub):
    template = template_checkout(tmp_path / "template")
    projects = tmp_path / "projects"
    projects.mkdir()
    trace = tmp_path / "git-trace.txt"
    context = {"architecture": ARCHITECTURE, "weights": "random", "push_to_hub": "yes", "git_init": "yes"}
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    create = [str(CRUFT), "create", "--no-input", "--extra-context", json.dumps(context), str(template)]
    created = subprocess.run(create, cwd=projects, env=env, capture_output=True, text=True, check=False)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    [commit] = hub.commits  # cruft create was asked to publish: generated and pushed once
    assert ".cruft.json" not in commit.files  # it names the template's and the weights' local paths
    writes_after_create = [request for request in hub.requests if request.method != "GET"]

    # git's own trace of every git command started (real git, nothing replaced): the hook's `git init` would show.
    diff = subprocess.run(
        [str(CRUFT), "diff", "--project-dir", str(projects / FOLDER)],
        env={**env, "GIT_TRACE": str(trace)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert diff.returncode == 0, diff.stdout[-2000:] + diff.stderr[-2000:]
    # (huggingface_hub itself may GET its agent registry, /api/agent-harnesses, once a day: no write.)
    assert [request for request in hub.requests if request.method != "GET"] == writes_after_create
    assert len(hub.commits) == 1
    traced = trace.read_text() if trace.exists() else ""
    # The hook's git commands: `git init --initial-branch=main` (after `git lfs version`, which git-lfs needs).
    assert "--initial-branch=main" not in traced and "lfs version" not in traced, traced
    assert "Pushed" not in diff.stdout + diff.stderr and "Committed" not in diff.stdout + diff.stderr


# --- 4. The visibility asked for --------------------------------------------------------------------------------------


def test_private_into_an_existing_public_repository_is_refused(tmp_path, hub):
    hub.repos["model", f"acme/{FOLDER}"] = Repo(f"acme/{FOLDER}", "model", private=False, head="0" * 40)
    result = run(tmp_path, "push_to_hub=yes", "hub_owner=acme", "private=yes")

    assert result.returncode == 0, result.stderr[-3000:]
    assert hub.commits == [] and hub.repo(f"acme/{FOLDER}").files == {}
    assert not hub.repo(f"acme/{FOLDER}").private
    [warning] = warnings(result.stderr)
    assert f"the Hub repository acme/{FOLDER} is public, not private as private=yes asks" in warning
    assert f"/acme/{FOLDER}/settings" in warning
    assert "Pushed" not in result.stdout


# --- 5. A run ends in the caller's process ---------------------------------------------------------------------------

PROGRAM = textwrap.dedent(
    """
    import atexit, json, shutil, signal, sys
    from pathlib import Path
    from cookiecutter.main import cookiecutter

    def guard_registered():
        # Whether the exit guard of any run still alive is registered with atexit (which would keep it alive).
        import gc

        from timm_hub_template.cookiecutter_run import Run

        for run in [thing for thing in gc.get_objects() if isinstance(thing, Run)]:
            registered = atexit._ncallbacks()
            atexit.unregister(run._clean_up_unfinished)
            if atexit._ncallbacks() != registered:
                atexit.register(run._clean_up_unfinished)
                return True
        return False

    template, out = sys.argv[1], Path(sys.argv[2])
    labels = out / "labels.txt"
    report = {"guard": [], "sigterm": []}
    context = {"architecture": "resnet10t", "weights": "random", "git_init": "no", "labels": str(labels)}
    published = []
    for names in (["cat", "dog"], ["ant", "bee"]):
        labels.write_text("\\n".join(names) + "\\n")  # rewritten between the two calls
        folder = Path(cookiecutter(template, no_input=True, extra_context=context, output_dir=str(out)))
        published.append(json.loads((folder / "config.json").read_text())["label_names"])
        report["sigterm"].append(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
        report["guard"].append(guard_registered())
        shutil.rmtree(folder)
    report["published"] = published
    # --accept-hooks no: cookiecutter renders the code files and returns; nothing may be left to run at exit.
    bare = Path(cookiecutter(template, no_input=True, extra_context=context, output_dir=str(out), accept_hooks=False))
    report["sigterm"].append(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    shutil.rmtree(bare)
    bare.mkdir()  # the user makes a folder of the same name: it must survive the interpreter's exit
    (out / "report.json").write_text(json.dumps(report))
    """
)


def test_two_runs_in_one_python_program_are_independent(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "program.py").write_text(PROGRAM)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "program.py"), str(TEMPLATE_DIR), str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["published"] == [["cat", "dog"], ["ant", "bee"]]  # the second run read the rewritten file
    assert report["sigterm"] == [True, True, True]  # the caller's SIGTERM handling is its own again
    assert report["guard"] == [False, False]  # no exit guard left registered
    assert (out / FOLDER).is_dir()  # the folder made at the same path after the run survived the exit


def test_the_exit_guard_removes_only_the_folder_the_run_made(tmp_path):
    """The guard of an unfinished run (interrupted outside a hook) compares the folder's device and inode with the one
    it locked: a folder made at the same path since is someone else's."""
    previous = cookiecutter_run._current
    folder = tmp_path / FOLDER
    try:
        for remade in (False, True):
            folder.mkdir()
            (folder / "half-made.py").write_text("")
            lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)  # as the run holds it from its pre-generation hook
            status = os.fstat(lock)
            if remade:
                shutil.rmtree(folder)
                folder.mkdir()
                (folder / "mine.txt").write_text("mine")
            run = cookiecutter_run.Run(
                invocation_dir=tmp_path,
                folder=folder,
                created=True,
                lock=lock,
                identity=(status.st_dev, status.st_ino),
            )
            run._clean_up_unfinished()
            assert folder.exists() == remade
    finally:
        cookiecutter_run._current = previous


# --- 6. The card's SHA-256 is that of the published weights -----------------------------------------------------------


def training_checkpoint(path, seed):
    import timm
    from helpers.training_run import train_py_args

    torch.manual_seed(seed)
    model = timm.create_model(ARCHITECTURE, num_classes=3)
    args = train_py_args(model=ARCHITECTURE, num_classes=3)
    torch.save({"state_dict": model.state_dict(), "args": args, "epoch": seed, "version": 2}, path)


def test_a_checkpoint_rotated_during_the_run_is_published_with_its_own_hash(tmp_path):
    """train.py saves `last.pth.tar` by writing a temporary file and renaming it over the last one: rotated while the
    run writes its weights, the card must give the SHA-256 of the version whose weights were published (or stop)."""
    from safetensors.torch import load_file

    first, second = tmp_path / "first.pth.tar", tmp_path / "second.pth.tar"
    training_checkpoint(first, 0)
    training_checkpoint(second, 1)
    shutil.copyfile(first, tmp_path / "last.pth.tar")
    process = subprocess.Popen(
        command("weights=last.pth.tar"), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    weights = tmp_path / FOLDER / "model.safetensors"
    deadline = time.monotonic() + 300
    while not weights.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    shutil.copyfile(second, tmp_path / "last.pth.tar.tmp")
    os.replace(tmp_path / "last.pth.tar.tmp", tmp_path / "last.pth.tar")  # as train.py's CheckpointSaver does
    stdout, stderr = process.communicate(timeout=300)

    if process.returncode != 0:  # stopping is allowed: with one line saying the file changed
        assert "changed while the run was reading it" in stderr, stderr[-3000:]
        assert not (tmp_path / FOLDER).exists()
        return
    card = (tmp_path / FOLDER / "README.md").read_text()
    published = load_file(weights)
    versions = {path: torch.load(path, weights_only=False)["state_dict"] for path in (first, second)}
    [source] = [
        path
        for path, state_dict in versions.items()
        if all(torch.equal(published[key], tensor.to(published[key].dtype)) for key, tensor in state_dict.items())
    ]
    assert f"SHA-256 `{hashlib.sha256(source.read_bytes()).hexdigest()}`" in card, (source.name, stdout[-2000:])


# --- 7. Smaller ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hub_owner": "a--b"}, "hub_owner 'a--b' must be a Hub user or organisation name"),
        ({"hub_owner": "a..b"}, "hub_owner 'a..b' must be a Hub user or organisation name"),
        ({"push_timeout": "0.001"}, "push_timeout must be a number of seconds from 1 to 86400"),
        ({"push_timeout": "0.5"}, "push_timeout must be a number of seconds from 1 to 86400"),
    ],
)
def test_hub_owner_and_push_timeout_are_checked_as_said(tmp_path, changes, message):
    assert message in error({**BASE, **changes}, tmp_path)


def test_a_labels_file_splits_at_newlines_only_and_ignores_a_byte_order_mark(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffcat\r\ndog\rbird\n".encode())
    assert parse({**BASE, "labels": "bom.txt"}, tmp_path).labels == ("cat", "dog", "bird")
    (tmp_path / "bom.json").write_bytes('\ufeff["cat", "dog"]'.encode())
    assert parse({**BASE, "labels": "bom.json"}, tmp_path).labels == ("cat", "dog")
    # U+2028 and a vertical tab are no line breaks in timm's class map: they stay in the name, which is refused.
    for separator in ("\u2028", "\x0b"):
        (tmp_path / "odd.txt").write_text(f"cat{separator}dog\nbird\n", encoding="utf-8")
        assert "class names must be printable" in error({**BASE, "labels": "odd.txt"}, tmp_path)


def test_accept_hooks_no_with_an_unsafe_repo_name_is_one_line_and_leaves_no_folder(tmp_path):
    result = subprocess.run(
        [*command("repo_name=../evil", output=tmp_path / "out"), "--accept-hooks", "no"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Error: repo_name '../evil' must be a single folder name" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_overwrite_into_a_generated_repository_says_it_is_one(tmp_path):
    folder = tmp_path / FOLDER
    folder.mkdir()
    subprocess.run(["git", "init", "--quiet"], cwd=folder, check=True)
    result = run(tmp_path, "git_init=yes", overwrite=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"inside the git repository {folder}" not in result.stderr
    assert "the folder is already a git repository" in result.stderr
