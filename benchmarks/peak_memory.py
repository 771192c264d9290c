"""Peak memory of generating a repository from a local checkpoint, relative to the size of its weights.

Each measurement runs in a fresh process and reads that process's peak RSS:
- imports: import torch, timm, transformers and the template's modules (the fixed cost);
- load: the imports, then the checkpoint read into memory (one copy of the weights);
- generate: the imports, then `batch.generate(..., weights=<checkpoint>)` (the hook's work, verification included).
It prints the medians over `--repeats` runs and the ratio (generate - imports) / weights size: the number of
copies of the weights held at the peak. The issue's bound: a 1 GB model must not need 3 GB (ratio < 3).

    python benchmarks/peak_memory.py --architecture vit_base_patch16_224 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import resource, sys, json
from pathlib import Path
sys.path.insert(0, {root!r})
import torch, timm, transformers
from timm_hub_template import batch, export
mode, architecture, checkpoint, out = sys.argv[1:5]
if mode == "load":
    from timm.models import load_state_dict
    state_dict = load_state_dict(checkpoint, weights_only=True)
elif mode == "generate":
    batch.generate(architecture, Path(out), weights=checkpoint)
print(json.dumps({{"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(mode: str, architecture: str, checkpoint: Path, work: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=work))
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, architecture, str(checkpoint), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="vit_base_patch16_224")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import timm
    import torch
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        checkpoint = work / "weights.safetensors"
        torch.manual_seed(0)
        model = timm.create_model(args.architecture)
        save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(checkpoint))
        del model
        weights_mb = checkpoint.stat().st_size / 2**20
        peaks = {mode: [] for mode in ("imports", "load", "generate")}
        for _ in range(args.repeats):
            for mode, values in peaks.items():
                values.append(measure(mode, args.architecture, checkpoint, work))
    median = {mode: statistics.median(values) for mode, values in peaks.items()}
    print(f"architecture {args.architecture}: weights {weights_mb:.0f} MB, {args.repeats} repeats (median peak RSS)")
    for mode, value in median.items():
        print(f"  {mode:<9} {value:8.0f} MB")
    print(f"  load:     {(median['load'] - median['imports']) / weights_mb:.2f} copies of the weights")
    print(f"  generate: {(median['generate'] - median['imports']) / weights_mb:.2f} copies of the weights")


if __name__ == "__main__":
    main()
