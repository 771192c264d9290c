"""Bad and hostile input. Each case: a one-line error, a failed run, and no folder left behind."""

import json
import subprocess
import sys

import pytest
from helpers.support import TEMPLATE_DIR, bake, save_timm_checkpoint


def run_cookiecutter(output_dir, **context):
    """The cookiecutter command line, as a user runs it (`cookiecutter --no-input <template> key=value ...`)."""
    arguments = [f"{key}={value}" for key, value in context.items()]
    command = [
        sys.executable,
        "-m",
        "cookiecutter",
        "--no-input",
        "-o",
        str(output_dir),
        str(TEMPLATE_DIR),
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def error_line(result):
    """The template's one line, no traceback (cookiecutter adds its "Hook script failed" when the hook found it;
    an answer refused as it is given stops the run before any hook)."""
    return the_one_error_line(result.stderr + result.stdout)


def the_one_error_line(output):
    """The single `Error: ` line in `output`, which holds no traceback."""
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    return lines[0]


PRE_GENERATION_CASES = [
    ({"architecture": "resnet5O"}, "unknown timm architecture 'resnet5O'; did you mean resnet50"),
    ({"architecture": "resnet50d.nope_in1k"}, "resnet50d has no pretrained tag 'nope_in1k'; available tags: ra2_in1k"),
    ({"architecture": 'x"; print("INJECTED") #'}, "unknown timm architecture"),
    ({"repo_name": "../escaped"}, "must be a single folder name"),
    ({"repo_name": "a/b"}, "must be a single folder name"),
    ({"repo_name": "CON"}, "reserved device name on Windows"),
    ({"repo_name": "bad name!"}, "is not a valid Hub repository name"),
    ({"module_name": "class"}, "module_name 'class' must be a Python identifier"),
    ({"module_name": "my-model"}, "module_name 'my-model' must be a Python identifier"),
    ({"class_prefix": "1Abc"}, "class_prefix '1Abc' must be a Python identifier"),
    ({"repo_name": "name\nimport os"}, "is not a valid Hub repository name"),
    ({"module_name": "mod\\ule"}, "module_name 'mod\\\\ule' must be a Python identifier"),
    ({"class_prefix": "Modèle"}, "class_prefix 'Modèle' must be a Python identifier"),
    ({"num_labels": "-3"}, "num_labels '-3' must be 'auto'"),
    ({"num_labels": "many"}, "num_labels 'many' must be 'auto'"),
    ({"weights": "missing.safetensors"}, "weights file 'missing.safetensors' does not exist"),
    ({"weights": "model.onnx"}, "must be 'pretrained', 'random' or a checkpoint file ending in"),
    ({"architecture": "ese_vovnet39b_evos", "weights": "pretrained"}, "timm has no pretrained weights for"),
    ({"hub_owner": "my org"}, "hub_owner 'my org' must be a Hub user or organisation name"),
    ({"hub_owner": "acme/models"}, "hub_owner 'acme/models' must be a Hub user or organisation name"),
    ({"license": "Apache 2.0"}, "license 'Apache 2.0' must be 'auto' or a Hub license id in lower case"),
    ({"description": "two\nlines"}, "description must be one line of at most 300 printable characters"),
    ({"description": "x" * 301}, "description must be one line of at most 300 printable characters"),
    ({"git_init": "maybe"}, "git_init must be yes or no, not 'maybe'"),
    # Inputs that could escape the checks as tracebacks and leave an empty folder behind.
    ({"model_args": '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"}, "model_args is nested too deeply"),
    ({"num_labels": "²"}, "num_labels '²' must be 'auto'"),
    ({"data_config": '{"crop_pct": NaN}'}, "NaN is not a number JSON allows"),
    ({"labels": "typo.csv"}, "labels file 'typo.csv' does not exist"),
    ({"weights": "missing.safetensors"}, "(looked for "),
]


# The first five (an unknown architecture and tag, injected code, unsafe folder names) run the cookiecutter command
# line, as a user does; the others run cookiecutter's Python API in the test process (timm is imported once for them
# all): the same rendering, the same hook script, which fails with the same one line.
COMMAND_LINE_CASES, API_CASES = PRE_GENERATION_CASES[:5], PRE_GENERATION_CASES[5:]


@pytest.mark.parametrize(("context", "message"), COMMAND_LINE_CASES)
def test_bad_variables_are_refused_before_generation(tmp_path, context, message):
    out = tmp_path / "out"
    out.mkdir()
    result = run_cookiecutter(out, **{"weights": "random", **context})
    assert result.returncode != 0
    assert message in error_line(result)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "escaped").exists()
    assert "INJECTED" not in (result.stdout + result.stderr).replace('print("INJECTED")', "")  # quoted in the error


@pytest.mark.parametrize(("context", "message"), API_CASES)
def test_bad_variables_are_refused_before_generation_by_the_api(tmp_path, capfd, context, message):
    from cookiecutter.exceptions import FailedHookException

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FailedHookException) as refused:
        bake(out, **{"weights": "random", **context})
    output = capfd.readouterr()
    if str(refused.value).startswith("Error: "):  # refused as it was given, before any hook: the exception says it
        assert message in str(refused.value) and "Error: " not in output.err + output.out
    else:
        assert str(refused.value).startswith("Hook script failed")
        assert message in the_one_error_line(output.err + output.out)
    assert list(out.iterdir()) == []
    assert not (tmp_path / "escaped").exists()


def test_corrupt_checkpoint_fails_cleanly(tmp_path):
    weights = tmp_path / "broken.safetensors"
    weights.write_bytes(b"\x00\x01 not a safetensors file")
    result = run_cookiecutter(tmp_path / "out", architecture="resnet18", weights=weights)
    assert result.returncode != 0
    assert "cannot read checkpoint" in error_line(result)
    assert not (tmp_path / "out" / "custom-resnet18").exists()


def test_checkpoint_of_another_architecture_lists_the_mismatch(tmp_path):
    weights = save_timm_checkpoint("resnet18", tmp_path / "resnet18.safetensors")
    result = run_cookiecutter(tmp_path / "out", architecture="resnet34", weights=weights)
    assert result.returncode != 0
    line = error_line(result)
    assert "checkpoint resnet18.safetensors does not fit resnet34" in line
    assert "missing keys" in line and "layer1.2.conv1.weight" in line
    assert not (tmp_path / "out" / "custom-resnet34").exists()


def test_pretrained_offline_without_a_cached_copy_says_what_to_do(tmp_path):
    result = run_cookiecutter(tmp_path / "out", architecture="resnet18", weights="pretrained")
    assert result.returncode != 0
    line = error_line(result)
    assert "weights=pretrained needs timm's weights of resnet18 from the Hub" in line
    assert "HF_HUB_OFFLINE is set and timm/resnet18.a1_in1k is not in the Hugging Face cache" in line
    assert "weights=random" in line
    assert not (tmp_path / "out" / "custom-resnet18").exists()


def test_pretrained_without_a_network_fails_at_once_without_retries(tmp_path, monkeypatch):
    """Not offline by the environment, but no Hub to reach (a closed port on loopback): one request, refused, and
    the one-line error; not huggingface_hub's minute of "Retrying in 8s" lines."""
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    result = run_cookiecutter(tmp_path / "out", architecture="resnet18", weights="pretrained")
    assert result.returncode != 0
    line = error_line(result)
    assert "the Hugging Face Hub (http://127.0.0.1:9) cannot be reached" in line
    assert "Retrying" not in result.stderr + result.stdout
    assert not (tmp_path / "out" / "custom-resnet18").exists()


def test_an_existing_folder_is_never_touched(tmp_path):
    existing = tmp_path / "custom-resnet18"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    result = run_cookiecutter(tmp_path, architecture="resnet18", weights="random")
    assert result.returncode != 0
    assert "already exists" in result.stderr + result.stdout
    assert [path.name for path in existing.iterdir()] == ["notes.txt"]
    assert (existing / "notes.txt").read_text() == "mine"


def test_jinja_in_a_value_is_only_an_inert_string(tmp_path):
    """Cookiecutter renders values given on its command line; the result must still be inert text."""
    result = run_cookiecutter(tmp_path, architecture="resnet18", weights="random", repo_name="r18-{{ 6 * 7 }}")
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / "r18-42"
    card = (folder / "README.md").read_text()
    assert "# Model card for r18-42\n" in card
    assert json.loads((folder / "config.json").read_text())["architecture"] == "resnet18"


class RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_checkpoints_cannot_run_code(tmp_path):
    import torch

    marker = tmp_path / "code-ran"
    weights = tmp_path / "evil.pth"
    torch.save({"state_dict": {"fc.weight": RunsCodeWhenUnpickled(marker)}}, weights)
    result = run_cookiecutter(tmp_path / "out", architecture="resnet18", weights=weights)
    assert result.returncode != 0
    assert "cannot read checkpoint" in error_line(result)
    assert not marker.exists()
    assert not (tmp_path / "out" / "custom-resnet18").exists()
