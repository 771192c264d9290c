"""Issues 3 and 5: the same inputs give byte-identical folders, from the command line and from batch mode."""

import subprocess
import sys

from support import TEMPLATE_DIR

from timm_hub_template import batch

ARCHITECTURE = "mobilenetv3_small_050"


def files(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def committed_tree(folder):
    """The initial commit's tree hash: content only (commit hashes differ by their timestamps)."""
    command = ["git", "rev-parse", "HEAD^{tree}"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def test_command_line_twice_and_batch_mode_give_identical_files(tmp_path):
    folders = []
    for run in ("first", "second"):
        command = [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(tmp_path / run), str(TEMPLATE_DIR)]
        result = subprocess.run(
            [*command, f"architecture={ARCHITECTURE}", "weights=random"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr[-2000:]
        folders.append(tmp_path / run / f"custom-{ARCHITECTURE}")
        # A short summary after success, without Transformers' per-step progress bars.
        assert f"Generated {folders[-1]} (" in result.stdout
        assert (
            "Verified: loaded with its code, with TimmWrapper and with timm, logits, pooled features, processor pixels"
            in result.stdout
        )
        assert (
            f"git push -u origin main   (or: hf upload <owner>/custom-{ARCHITECTURE} {folders[-1]})" in result.stdout
        )
        assert "Loading weights" not in result.stdout + result.stderr
        assert "Writing model shards" not in result.stdout + result.stderr
    folders.append(batch.generate(ARCHITECTURE, tmp_path / "batch", weights="random"))

    first = files(folders[0])
    assert {"model.safetensors", "config.json", "README.md", f"modeling_{ARCHITECTURE}.py"} <= set(first)
    for other in folders[1:]:
        other_files = files(other)
        assert set(other_files) == set(first)
        for name, content in first.items():
            assert other_files[name] == content, name
    assert len({committed_tree(folder) for folder in folders}) == 1
