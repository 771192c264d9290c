"""Peak memory of generating a repository from a local checkpoint, relative to the size of its weights.

Each measurement runs in a fresh process: it imports torch, timm, transformers and the template, resets the
kernel's peak-RSS counter (/proc/self/clear_refs), then does one thing and reports its peak RSS above the RSS
it had after the imports:
- load: read the checkpoint into memory, the baseline (one copy of the weights);
- generate: `batch.generate(..., weights=<checkpoint>)`, the hook's work with its verification.
It prints the medians over `--repeats` runs and each peak divided by the weights' size: the number of copies of
the weights held at the peak. The issue's bound: a 1 GB model must not need 3 GB (generate < 3 copies).
`--dtype bfloat16` saves the checkpoint in bfloat16, which the generation publishes as it is: then every loader
of the verification must hold the model in bfloat16 too (a float32 build alone would be two copies).

    python benchmarks/peak_memory.py --architecture vit_base_patch16_224 --repeats 3
    python benchmarks/peak_memory.py --architecture vit_base_patch16_224 --repeats 3 --dtype bfloat16
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
import sys, json
from pathlib import Path
sys.path.insert(0, {root!r})
import torch, timm, transformers
from timm_hub_template import batch, export

def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

mode, architecture, checkpoint, out = sys.argv[1:5]
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset VmHWM, the peak RSS
start = status_mb("VmRSS")
if mode == "load":
    from timm.models import load_state_dict
    state_dict = load_state_dict(checkpoint, weights_only=True)
    total = sum(float(tensor.double().sum()) for tensor in state_dict.values())  # every page read
elif mode == "generate":
    batch.generate(architecture, Path(out), weights=checkpoint)
print(json.dumps({{"peak_mb": status_mb("VmHWM") - start}}))
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
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="of the checkpoint")
    args = parser.parse_args()

    import timm
    import torch
    from safetensors.torch import save_file

    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        checkpoint = work / "weights.safetensors"
        torch.manual_seed(0)
        model = timm.create_model(args.architecture).to(getattr(torch, args.dtype))
        save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(checkpoint))
        del model
        weights_mb = checkpoint.stat().st_size / 2**20
        peaks = {mode: [] for mode in ("load", "generate")}
        for _ in range(args.repeats):
            for mode, values in peaks.items():
                values.append(measure(mode, args.architecture, checkpoint, work))
    median = {mode: statistics.median(values) for mode, values in peaks.items()}
    print(
        f"{args.architecture}: {args.dtype} weights {weights_mb:.0f} MB; median over {args.repeats} runs of the peak RSS above imports"
    )
    for mode, value in median.items():
        print(f"  {mode:<9} {value:7.0f} MB = {value / weights_mb:.2f} copies of the weights")


if __name__ == "__main__":
    main()
