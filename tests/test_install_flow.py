"""The README's flow without a clone, `pip install "git+<template>"` then `cookiecutter git+<template>`.

The package is built as a wheel and installed with `pip install --no-deps --target`, a folder put first on the
cookiecutter process's PYTHONPATH: the installed copy comes before everything else, as a user's site-packages
would. cookiecutter then clones a commit of this tree (uncommitted changes included) from a `git+file://` URL
into a cookiecutters folder of the test's own and runs from another folder, with `--no-input` and once answering
its prompts on a terminal (a pty). An installed copy of another version is never what the run uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.support import TEMPLATE_DIR, answer_on_a_terminal

ARCHITECTURE = "resnet10t"
FOLDER_FILES = {
    ".gitattributes",
    "README.md",
    "config.json",
    "configuration_resnet10t.py",
    "image_processing_resnet10t.py",
    "model.safetensors",
    "modeling_resnet10t.py",
    "requirements.txt",
}
STALE_VERSION = "0.0.1"
STALE_MARK = "stale installed copy imported"


def git(*args: str, cwd: Path) -> str:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def snapshot(destination: Path) -> tuple[Path, str]:
    """A git repository holding this tree as it is now (tracked and untracked files that git does not ignore),
    in one commit; returns it and the commit."""
    files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=TEMPLATE_DIR).split("\0")
    for name in filter(None, files):
        source = TEMPLATE_DIR / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of it
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    git("init", "-q", "-b", "main", cwd=destination)
    git("add", "-A", cwd=destination)
    git("commit", "-q", "-m", "snapshot", cwd=destination)
    return destination, git("rev-parse", "HEAD", cwd=destination)


def build_wheel(source: Path, wheel_dir: Path) -> Path:
    build = wheel_dir / "source"  # pip builds in the source tree (build/, *.egg-info): a copy keeps `source` clean
    shutil.copytree(source, build, ignore=shutil.ignore_patterns(".git"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([*command, "-w", str(wheel_dir), str(build)], check=True)
    (wheel,) = wheel_dir.glob("timm_hub_template-*.whl")
    return wheel


def install_wheel(wheel: Path, target: Path) -> Path:
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check"]
    subprocess.run([*command, "--target", str(target), str(wheel)], check=True)
    return target


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """(the template repository's folder, its commit); the folder is named as the template's repository."""
    return snapshot(tmp_path_factory.mktemp("repository") / "timm-hub-template")


@pytest.fixture(scope="module")
def wheel(template, tmp_path_factory):
    return build_wheel(template[0], tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The folder the wheel is installed into, as site-packages."""
    return install_wheel(wheel, tmp_path_factory.mktemp("site-packages"))


@pytest.fixture(scope="module")
def stale_installed(template, tmp_path_factory):
    """An installed copy of another version of the package, whose Jinja extension stops the run if imported."""
    source = tmp_path_factory.mktemp("stale") / "timm-hub-template"
    shutil.copytree(template[0], source, ignore=shutil.ignore_patterns(".git"))
    pyproject = source / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "{STALE_VERSION}"'))
    init = source / "timm_hub_template" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{STALE_VERSION}"'))
    extension = source / "timm_hub_template" / "jinja_extension.py"
    extension.write_text(extension.read_text() + f"\nraise SystemExit({STALE_MARK!r})\n")
    wheel = build_wheel(source, tmp_path_factory.mktemp("stale-wheel"))
    return install_wheel(wheel, tmp_path_factory.mktemp("stale-site-packages"))


def environment(site_packages: Path, work: Path) -> dict[str, str]:
    """The cookiecutter process's environment: the installed copy first on its path, cookiecutter's folders in
    `work` (its clones and replays, instead of ~/.cookiecutters and ~/.cookiecutter_replay)."""
    config = work / "cookiecutterrc.yaml"
    config.write_text(f"cookiecutters_dir: {work / 'cookiecutters'}\nreplay_dir: {work / 'replay'}\n")
    return {**os.environ, "PYTHONPATH": str(site_packages), "COOKIECUTTER_CONFIG": str(config), "COLUMNS": "200"}


def template_url(template: tuple[Path, str]) -> str:
    return f"git+file://{template[0]}"


def assert_generated(folder: Path, commit: str) -> None:
    assert {path.name for path in folder.iterdir()} == FOLDER_FILES
    assert json.loads((folder / "config.json").read_text())["architecture"] == ARCHITECTURE
    # The card names the commit of the template checkout the run used: the clone's own package wrote it.
    assert f"timm-hub-template 0.1.0 (commit {commit[:12]})" in (folder / "README.md").read_text()


def test_the_wheel_holds_every_data_file_of_the_package(wheel, template):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    data = {
        name for name in git("ls-files", "timm_hub_template", cwd=template[0]).splitlines() if not name.endswith(".py")
    }
    assert {
        "timm_hub_template/timm_classes.json",
        "timm_hub_template/timm_history.json",
        "timm_hub_template/templates/model_card.md",
        "timm_hub_template/requirements.txt",
        "timm_hub_template/requirements-onnx.txt",
    } <= data
    assert data <= names, sorted(data - names)
    # Only the package: the template's own entry module lives in the checkout, never in site-packages.
    assert not {name for name in names if not name.startswith(("timm_hub_template/", "timm_hub_template-"))}


def test_the_installed_package_reads_its_data_files(installed, tmp_path):
    """Imported from the installed copy (not a checkout), the package finds every file it reads."""
    script = (
        "import timm_hub_template, json\n"
        "from timm_hub_template import card, dependencies, timm_floor\n"
        "from timm_hub_template.introspection import classes\n"
        "print(json.dumps([timm_hub_template.__file__, dependencies.missing(), dependencies.missing_onnx(),\n"
        "    dependencies.install_hint(['x>=1']), len(card.TEMPLATE.read_text()) > 0,\n"
        "    len(timm_floor.HISTORY.read_text()) > 0, len(classes.CLASSES_FILE.read_text()) > 0]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    location, missing, missing_onnx, hint, *read = json.loads(result.stdout)
    assert Path(location).is_relative_to(installed)
    assert missing == [] and missing_onnx == [] and all(read)
    requirements = installed / "timm_hub_template" / "requirements.txt"
    assert f"python -m pip install -r {requirements}" in hint


def generate_elsewhere(template, site: Path, tmp_path: Path) -> tuple[Path, str]:
    """`cookiecutter --no-input <git+file URL>` from a folder outside the template, with `site` first on the path:
    the folder it generates and everything it printed (the run must succeed)."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", template_url(template)]
        + [f"architecture={ARCHITECTURE}", "weights=random", "git_init=no"],
        cwd=work,
        env=environment(site, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return work / f"custom-{ARCHITECTURE}", output


@pytest.mark.slow
def test_cookiecutter_from_a_git_url_with_the_package_installed(template, installed, tmp_path):
    folder, output = generate_elsewhere(template, installed, tmp_path)
    assert "Traceback" not in output
    assert_generated(folder, template[1])


@pytest.mark.slow
def test_cookiecutter_from_a_git_url_answering_its_prompts(template, installed, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    variables = [key for key in json.loads((template[0] / "cookiecutter.json").read_text()) if key[0] != "_"]
    typed = {"architecture": ARCHITECTURE, "weights": "random"}
    returncode, output, _ = answer_on_a_terminal(
        [sys.executable, "-m", "cookiecutter", template_url(template), "git_init=no"],
        work,
        environment(installed, tmp_path),
        [typed.get(variable, "") for variable in variables],  # empty: the default
    )
    assert returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert_generated(work / f"custom-{ARCHITECTURE}", template[1])


@pytest.mark.slow
def test_an_installed_copy_of_another_version_is_not_used(template, stale_installed, tmp_path):
    folder, output = generate_elsewhere(template, stale_installed, tmp_path)
    assert STALE_MARK not in output
    assert_generated(folder, template[1])


def test_an_already_imported_copy_of_another_version_is_refused_in_one_line(template, stale_installed, tmp_path):
    """A process that imported another copy of the package before calling cookiecutter cannot import the
    template's: the run stops before any prompt or folder, with one line naming both."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import sys, timm_hub_template\n"
        "from cookiecutter.main import cookiecutter\n"
        "cookiecutter(sys.argv[1], no_input=True, extra_context={'weights': 'random', 'git_init': 'no'})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, template_url(template)],
        cwd=work,
        env=environment(stale_installed, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    line = the_one_line(result)
    assert line.startswith("Error: ")
    assert f"timm_hub_template {STALE_VERSION} from {stale_installed / 'timm_hub_template'}" in line
    assert f"0.1.0 in {tmp_path / 'cookiecutters' / 'timm-hub-template' / 'timm_hub_template'}" in line
    assert list(work.iterdir()) == []


def the_one_line(result: subprocess.CompletedProcess) -> str:
    """The single line a refused run printed (it failed, with no traceback)."""
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output, output[-4000:]
    (line,) = output.strip().splitlines()
    return line


def test_the_package_of_another_checkout_is_refused_in_one_line(template, installed, tmp_path):
    """`python -m cookiecutter` started inside a checkout of the template imports that checkout's package (the
    working directory comes first on `sys.path`) while rendering the clone: one line names both, before any folder."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(out), template_url(template)]
        + ["weights=random", "git_init=no"],
        cwd=template[0],
        env=environment(installed, tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    line = the_one_line(result)
    clone = tmp_path / "cookiecutters" / "timm-hub-template"
    assert line == (
        f"Error: cookiecutter renders the template in {clone} (timm_hub_template 0.1.0) with the timm_hub_template "
        f"0.1.0 of {template[0]}: run cookiecutter in a new process, from a folder outside that checkout"
    )
    assert not out.exists() or list(out.iterdir()) == []


def test_batch_mode_of_an_installed_copy_says_it_needs_a_clone(installed, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "timm_hub_template", "batch", ARCHITECTURE, "--output", str(tmp_path / "out")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    (line,) = (result.stdout + result.stderr).strip().splitlines()
    assert line.startswith(f"Error: batch mode renders the template's files, which {installed} does not hold")
