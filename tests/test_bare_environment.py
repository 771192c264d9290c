"""`cookiecutter <template>` from an environment that has only cookiecutter (what `pipx install cookiecutter`
gives), and the package metadata that installs what the template needs."""

import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers.support import TEMPLATE_DIR
from packaging.requirements import Requirement

from timm_hub_template import dependencies


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A fresh virtual environment with cookiecutter and its own dependencies only."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "cookiecutter>=2.7.1,<3"], check=True)
    return python


@pytest.mark.parametrize("asked", [False, True], ids=["no-input", "asked"])
def test_missing_packages_are_named_in_one_line_before_the_first_question(bare_python, tmp_path, asked):
    out = tmp_path / "out"
    out.mkdir()
    flags = [] if asked else ["--no-input"]
    result = subprocess.run(
        [str(bare_python), "-m", "cookiecutter", *flags, "-o", str(out), str(TEMPLATE_DIR), "weights=random"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, output
    for package in ("torch", "timm", "transformers", "huggingface_hub"):
        assert package in errors[0]
    assert f"python -m pip install -r {TEMPLATE_DIR / 'timm_hub_template' / 'requirements.txt'}" in errors[0]
    assert "[1/" not in output  # no question was asked
    assert "Traceback" not in output
    assert list(out.iterdir()) == []


def test_package_metadata_requires_what_the_template_needs(tmp_path):
    source = tmp_path / "source"  # a copy: pip builds in the source tree (build/, *.egg-info)
    shutil.copytree(TEMPLATE_DIR, source, ignore=shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)], check=True
    )
    (wheel,) = tmp_path.glob("timm_hub_template-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith("METADATA"))
        requires = {
            normalized(line.removeprefix("Requires-Dist: "))
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ") and "extra ==" not in line
        }
        extra = {
            normalized(line.removeprefix("Requires-Dist: ").split(";")[0])
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ") and 'extra == "onnx"' in line
        }
        assert "timm_hub_template/templates/model_card.md" in archive.namelist()
    assert requires == {normalized(requirement) for requirement in dependencies.requirements()}
    # onnx=yes needs requirements-onnx.txt: the `onnx` extra (`pip install "timm-hub-template[onnx]"`), not a dependency.
    assert extra == {normalized(line) for line in dependencies.requirements(dependencies.ONNX_REQUIREMENTS)}
    assert normalized("torch>=2.4,<=2.14.1") in requires


def normalized(requirement: str) -> tuple[str, frozenset[str]]:
    parsed = Requirement(requirement)
    return parsed.name.lower().replace("_", "-"), frozenset(str(spec) for spec in parsed.specifier)
