"""The questions of a first run, as a person answers them in a terminal: six, in the order a person thinks, each
under 80 columns, yes/no as cookiecutter's own boolean; a wrong answer reported before the next question; the
variables that are not asked still set by their names on the command line."""

import json
import os
import re
import subprocess
import sys

import pytest
from helpers.support import TEMPLATE_DIR, answer_on_a_terminal

QUESTIONS = ["architecture", "weights", "labels", "repo_name", "hub_owner", "push_to_hub"]
COMMAND = [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR)]


def prompts(output: str) -> list[str]:
    """The question lines the terminal showed, without rich's colour codes."""
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output)
    return [line.strip() for line in plain.splitlines() if re.match(r"\s*\[\d+/\d+\]", line)]


@pytest.mark.slow
def test_a_first_run_asks_six_questions_in_a_persons_order(tmp_path):
    answers = ["resnet10t", "random", "", "", "", ""]  # empty: the default
    wide = {**os.environ, "COLUMNS": "200"}  # rich wraps nothing: each question is one line, measured as shown
    returncode, output, _ = answer_on_a_terminal(
        [*COMMAND, "-o", str(tmp_path), "git_init=no"], tmp_path, wide, answers
    )
    assert returncode == 0, output[-3000:]
    shown = prompts(output)
    assert [line.split("]", 1)[0] + "]" for line in shown] == [f"[{i}/6]" for i in range(1, 7)], shown
    questions = [line[: line.rindex("):") + 2] for line in shown]  # the question and its (default), not the answer
    assert all(len("  " + question) < 80 for question in questions), questions
    assert "timm architecture" in shown[0] and "Weights" in shown[1] and "Class names" in shown[2]
    assert "repository name" in shown[3] and "Hub user or organisation" in shown[4]
    assert "Push to the Hub" in shown[5] and "[y/n]" in shown[5]  # cookiecutter's own yes/no question
    assert (tmp_path / "custom-resnet10t" / "model.safetensors").is_file()


def test_cookiecutter_json_asks_these_six_and_keeps_the_rest_private():
    variables = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    assert [key for key in variables if not key.startswith("_")] == QUESTIONS
    assert variables["push_to_hub"] is False and variables["__git_init"] is True  # booleans, not "yes"/"no" text
    assert set(variables["__prompts__"]) == set(QUESTIONS)
    assert {"__dtype", "__model_args", "__checkpoint_key", "__private", "__push_timeout"} <= set(variables)


def test_a_wrong_architecture_is_reported_before_the_next_question(tmp_path):
    returncode, output, answered = answer_on_a_terminal(
        [*COMMAND, "-o", str(tmp_path)], tmp_path, dict(os.environ), ["resnet5Od", "random"], questions=6
    )
    assert returncode != 0
    assert "Error: unknown timm architecture 'resnet5Od'; did you mean resnet50d" in output
    assert answered == 1 and "[2/6]" not in output  # the weights question never came
    assert "Traceback" not in output
    assert list(tmp_path.iterdir()) == []


def test_a_missing_checkpoint_is_reported_before_the_next_question(tmp_path):
    returncode, output, answered = answer_on_a_terminal(
        [*COMMAND, "-o", str(tmp_path)], tmp_path, dict(os.environ), ["resnet10t", "runs/last.pth.tar", ""], 6
    )
    assert returncode != 0
    assert "Error: weights file 'runs/last.pth.tar' does not exist" in output
    assert answered == 2 and "[3/6]" not in output
    assert list(tmp_path.iterdir()) == []


def run(tmp_path, *variables):
    command = [*COMMAND[:3], "--no-input", "-o", str(tmp_path), str(TEMPLATE_DIR), *variables]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_variables_that_are_not_asked_are_set_by_their_names(tmp_path):
    """`dtype=...` as before, or cookiecutter's own private form `__module_name=...`."""
    named = run(tmp_path, "architecture=resnet10t", "weights=random", "git_init=no", "dtype=bfloat16")
    private = run(
        tmp_path, "architecture=resnet10t", "weights=random", "__git_init=no", "__module_name=mine", "repo_name=b"
    )
    assert named.returncode == 0 and private.returncode == 0, named.stderr[-2000:] + private.stdout + private.stderr
    assert json.loads((tmp_path / "custom-resnet10t" / "config.json").read_text())["dtype"] == "bfloat16"
    assert not (tmp_path / "custom-resnet10t" / ".git").exists() and not (tmp_path / "b" / ".git").exists()
    assert (tmp_path / "b" / "configuration_mine.py").is_file()


def test_an_unknown_variable_is_refused_with_the_name_it_may_mean(tmp_path):
    result = run(tmp_path, "architecture=resnet10t", "weights=random", "dtpye=bfloat16")
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error: ")]
    assert errors == [errors[0]] and "no variable 'dtpye' (did you mean dtype?)" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_the_answers_known_only_at_the_end_are_listed_together(tmp_path):
    result = run(
        tmp_path, "architecture=resnet10t", "weights=random", "repo_name=a/b", "module_name=1x", "num_labels=x"
    )
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error: ")]
    assert result.returncode != 0 and len(errors) == 1, result.stdout + result.stderr
    assert errors[0].startswith("Error: 4 answers are wrong: repo_name 'a/b' must be a single folder name")
    assert "module_name '1x' must be a Python identifier" in errors[0] and "num_labels 'x' must be" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_a_user_config_file_sets_a_variable_that_is_not_asked(tmp_path):
    """cookiecutter's own config file (`default_context`), by the variable's name, as on the command line."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cc'}\nreplay_dir: {tmp_path / 'replay'}\ndefault_context:\n  dtype: bfloat16\n  git_init: 'no'\n"
    )
    out = tmp_path / "out"
    result = run(out, "--config-file", str(config), "architecture=resnet10t", "weights=random")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert json.loads((out / "custom-resnet10t" / "config.json").read_text())["dtype"] == "bfloat16"
    assert not (out / "custom-resnet10t" / ".git").exists()
    replay = json.loads(next((tmp_path / "replay").glob("*.json")).read_text())["cookiecutter"]
    assert replay["__dtype"] == "bfloat16"  # the replay file holds it under its key: `--replay` repeats the run
