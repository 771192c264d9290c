"""The maintenance tools live apart from what a generation runs, behind one command line.

A generation (the hooks' Jinja extension, `generate`, batch mode) runs in a fresh process where importing
`timm_hub_template.maintenance` raises; the tools answer through `python -m timm_hub_template.maintenance`; the
timm-history rebuild reads a timm release with a real module (no script in a string).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import timm
from helpers.support import TEMPLATE_DIR

from timm_hub_template.run_files import INCOMPLETE_MARKER

ARCHITECTURE = "resnet10t"

# In the child process: a finder ahead of every other that refuses the maintenance package, then both ways of
# generating: cookiecutter in-process (its hooks render our Jinja extension, which runs the generation) and batch mode.
WITHOUT_MAINTENANCE = """
import sys
from pathlib import Path


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "timm_hub_template.maintenance" or name.startswith("timm_hub_template.maintenance."):
            raise ImportError(f"{name} is unavailable in this test")
        return None


sys.meta_path.insert(0, Refuse())
output, template = Path(sys.argv[1]), sys.argv[2]
import timm_hub_template.jinja_extension, timm_hub_template.generate, timm_hub_template.batch
from cookiecutter.main import cookiecutter

cookiecutter(template, no_input=True, output_dir=str(output / "cli"), extra_context={
    "architecture": sys.argv[3], "weights": "random", "git_init": "no"})
timm_hub_template.batch.generate(sys.argv[3], output / "batch")
try:
    import timm_hub_template.maintenance
except ImportError:
    pass
else:
    raise SystemExit("the finder did not refuse the maintenance package")
print(sorted(name for name in sys.modules if name.startswith("timm_hub_template")))
"""


def test_a_generation_never_imports_the_maintenance_tools(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MAINTENANCE, str(tmp_path), str(TEMPLATE_DIR), ARCHITECTURE],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(TEMPLATE_DIR)},
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for way in ("cli", "batch"):
        folder = tmp_path / way / f"custom-{ARCHITECTURE}"
        assert not (folder / INCOMPLETE_MARKER.name).exists()
        assert {"config.json", "model.safetensors", f"modeling_{ARCHITECTURE}.py"} <= {
            p.name for p in folder.iterdir()
        }
    loaded = result.stdout.strip().splitlines()[-1]
    assert "timm_hub_template.introspection" in loaded and "maintenance" not in loaded


def maintenance(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "timm_hub_template.maintenance", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(TEMPLATE_DIR)},
        timeout=600,
    )


def test_one_command_line_runs_every_maintenance_tool(tmp_path):
    listed = maintenance("--help", cwd=tmp_path)
    assert listed.returncode == 0
    assert "{sweep,siblings,onnx-sweep,classes,timm-history,locks,render}" in listed.stdout
    for tool in ("sweep", "siblings", "onnx-sweep", "classes", "timm-history", "locks", "render"):
        assert maintenance(tool, "--help", cwd=tmp_path).returncode == 0, tool
    # The generating command line no longer offers them.
    old = subprocess.run(
        [sys.executable, "-m", "timm_hub_template", "sweep", "--help"], capture_output=True, text=True, check=False
    )
    assert old.returncode == 2 and "invalid choice: 'sweep'" in old.stderr


def test_the_sweep_command_rebuilds_its_table_from_its_log(tmp_path):
    """Through the one command line: `sweep --report-only` writes COVERAGE.md from the results in COVERAGE.jsonl."""
    from timm_hub_template.maintenance.sweep import Result

    row = Result(ARCHITECTURE, "resnet", True, 5_000_000, "exact")
    (tmp_path / "COVERAGE.jsonl").write_text(json.dumps(asdict(row)) + "\n")
    result = maintenance("sweep", ARCHITECTURE, "--output", "COVERAGE.md", "--report-only", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "COVERAGE.md").read_text()
    assert "- architectures: 1 of 1 in 1 families" in table and "| resnet | 1 | 1 | 1 | 0 | 0 | 0 |" in table
    assert "python -m timm_hub_template.maintenance sweep" in table


def test_a_sharded_sweep_reports_its_share_of_the_names(tmp_path):
    """`--shard 1/2` covers every second name of timm's list, as batch mode's shards do; the table says the command."""
    from timm_hub_template.maintenance.sweep import Result

    names = timm.list_models("resnet1*")
    rows = [Result(name, "resnet", True, 5_000_000, "exact") for name in names]
    (tmp_path / "COVERAGE.jsonl").write_text("".join(json.dumps(asdict(row)) + "\n" for row in rows))
    result = maintenance(
        "sweep", "resnet1*", "--shard", "1/2", "--output", "COVERAGE.md", "--report-only", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "COVERAGE.md").read_text()
    share = names[1::2]
    assert f"- architectures: {len(share)} of {len(share)} in 1 families" in table
    assert "--shard 1/2" in table


@pytest.mark.slow
def test_a_numeric_run_redoes_a_structure_only_result_in_bfloat16(tmp_path):
    """Above `--max-params` and up to `--bf16-max-params` an architecture is generated with bfloat16 weights and
    checked by the three loaders; the structure-only result it replaces is redone, an exact one is kept."""
    from timm_hub_template.maintenance.sweep import Result

    kept = Result("resnet14t", "resnet", True, 8_000_000, "exact", loaders={"custom code": "exact"})
    redone = Result(ARCHITECTURE, "resnet", True, 5_000_000, "structure", loaders={"custom code": "structure"})
    log = tmp_path / "COVERAGE.jsonl"
    log.write_text(json.dumps(asdict(kept)) + "\n" + json.dumps(asdict(redone)) + "\n")
    limits = ("--max-params", "0", "--bf16-max-params", "100000000", "--workers", "1")
    result = maintenance("sweep", ARCHITECTURE, "resnet14t", *limits, "--output", "COVERAGE.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 3 and rows[0] == asdict(kept)
    assert rows[2]["name"] == ARCHITECTURE and rows[2]["status"] == "exact", rows[2]
    assert rows[2]["dtype"] == "bfloat16" and set(rows[2]["loaders"].values()) == {"exact"}
    table = (tmp_path / "COVERAGE.md").read_text()
    assert f"## Exact in bfloat16\n\n- `{ARCHITECTURE}` (resnet, 5M)" in table
    assert "- exact: 2 (1 in float32, 1 in bfloat16), structure only: 0, failed: 0" in table


def test_the_timm_history_reads_a_release_with_a_module_of_its_own():
    """`timm_release_names.py` (what the rebuild runs under each timm release) on the installed timm: every model
    name and every constructor argument of ResNet, as timm itself lists them."""
    from timm.models.resnet import ResNet

    from timm_hub_template.maintenance.timm_history import PACKAGES, RELEASE_NAMES

    result = subprocess.run(
        [sys.executable, str(RELEASE_NAMES), *PACKAGES], capture_output=True, text=True, check=True, timeout=300
    )
    dump = json.loads(result.stdout.strip().splitlines()[-1])
    assert dump["version"] == timm.__version__
    keys = set(dump["keys"])
    assert {f"model:{name}" for name in timm.list_models()} <= keys
    assert {f"param:timm.models.resnet:ResNet:{name}" for name in inspect.signature(ResNet).parameters} <= keys
    assert "method:timm.models.resnet:ResNet:forward_intermediates" in keys
