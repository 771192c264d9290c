"""The run begins as cookiecutter starts rendering the project folder (`{{cookiecutter.repo_name}}`), whatever
brought the name there: an unsafe name is refused before any folder exists, also from an edited replay file,
which cookiecutter renders without asking (so no question's check sees it)."""

import json
import subprocess
import sys

from helpers.support import TEMPLATE_DIR

from timm_hub_template.cookiecutter_run import context_for


def test_an_unsafe_folder_name_from_an_edited_replay_file_is_refused_before_any_folder_exists(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    context = context_for(TEMPLATE_DIR, {"architecture": "resnet10t", "weights": "random", "git_init": "no"}, out)
    context["cookiecutter"]["repo_name"] = "../escaped"
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps({"cookiecutter": context["cookiecutter"], "_cookiecutter": context["cookiecutter"]}))
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--replay-file", str(replay), "-o", str(out), str(TEMPLATE_DIR)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Error: repo_name '../escaped' must be a single folder name" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out", "replay.json"]
    assert list(out.iterdir()) == []
