"""Generation time and memory against timm's own export, each run in a fresh process, medians over repeats.

For each architecture (default: resnet50d and vit_large_patch16_224), with a local safetensors checkpoint of timm's
random initialisation as the weights:
- template: `cookiecutter --no-input <template> architecture=A weights=<checkpoint> git_init=no`, verification
  included, and the same with `git_init=yes` (the default: the initial commit, weights in Git LFS), whose extra
  time is given as a fraction of timm's;
- timm: `timm.create_model(A, pretrained=True, pretrained_cfg_overlay={"file": <checkpoint>})` and
  `timm.models.save_for_hf`, what timm's `push_to_hf_hub` writes before uploading;
- load: `AutoModelForImageClassification.from_pretrained(<generated folder>, trust_remote_code=True)` against
  `timm.create_model` with the same checkpoint (seconds inside the process, after the imports);
- import floor: a process that only imports cookiecutter, torch, timm and transformers;
- Transformers floor: what any verification of the two Transformers ways in the process pays, whatever else it
  skips: a process that imports cookiecutter, torch, timm and the Auto classes, then loads the generated folder with
  `AutoModelForImageClassification` and `AutoModel`, with and without its code (no forward pass, no comparison).
Wall time and peak RSS (`wait4`'s `ru_maxrss`) are per whole process. It prints a Markdown table with the medians,
the ratios template / timm, and the peak above the import floor in copies of the checkpoint's bytes. Then batch mode
against one cookiecutter process per architecture, for a few small architectures.

    python benchmarks/generation.py --repeats 3

`--template-only` runs just the template, with the variables given after `--set` (the giant of the README):

    python benchmarks/generation.py --template-only --architectures vit_7b_patch16_dinov3 --repeats 1 \
        --set weights=random dtype=bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SMALL = ["mobilenetv3_small_050", "resnet10t", "efficientnet_b0", "vit_tiny_patch16_224", "convnext_atto"]

SAVE_FOR_HF = """
import sys, timm
from timm.models import save_for_hf
architecture, checkpoint, out = sys.argv[1:4]
model = timm.create_model(architecture, pretrained=True, pretrained_cfg_overlay={"file": checkpoint})
save_for_hf(model, out)
"""
IMPORTS = "import cookiecutter.main, torch, timm, transformers"
TRANSFORMERS_FLOOR = """
import sys, cookiecutter.main, timm, torch
from transformers import AutoModel, AutoModelForImageClassification
for options in ({"trust_remote_code": True}, {}):
    for auto_class in (AutoModelForImageClassification, AutoModel):
        auto_class.from_pretrained(sys.argv[1], **options)
"""
LOAD = """
import json, sys, time, timm
from transformers import AutoModelForImageClassification
mode, architecture, path = sys.argv[1:4]
start = time.perf_counter()
if mode == "template":
    AutoModelForImageClassification.from_pretrained(path, trust_remote_code=True)
else:
    timm.create_model(architecture, pretrained=True, pretrained_cfg_overlay={"file": path})
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def measured(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of a fresh process (`wait4` on it: its own peak)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def checkpoint_of(architecture: str, work: Path) -> Path:
    path = work / f"{architecture}.safetensors"
    code = (
        "import sys, timm, torch; from safetensors.torch import save_file; torch.manual_seed(0); "
        "model = timm.create_model(sys.argv[1]); "
        "save_file({k: v.contiguous() for k, v in model.state_dict().items()}, sys.argv[2])"
    )
    subprocess.run([PYTHON, "-c", code, architecture, str(path)], check=True)
    return path


def template_command(architecture: str, weights: str, out: Path, *extra: str) -> list[str]:
    return [
        PYTHON, "-m", "cookiecutter", "--no-input", "-o", str(out), str(ROOT),
        f"architecture={architecture}", f"weights={weights}", *extra,
    ]  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)


def compare(architecture: str, repeats: int, work: Path, floor_mib: float) -> dict[str, float]:
    checkpoint = checkpoint_of(architecture, work)
    size_mib = checkpoint.stat().st_size / 2**20
    template, committed, timm_runs, floors, loads = [], [], [], [], {"template": [], "timm": []}
    for repeat in range(repeats):
        out = work / f"{architecture}-{repeat}"
        template.append(measured(template_command(architecture, str(checkpoint), out, "git_init=no"))[:2])
        with_git = work / f"{architecture}-git-{repeat}"
        committed.append(measured(template_command(architecture, str(checkpoint), with_git, "git_init=yes"))[0])
        shutil.rmtree(with_git)
        timm_out = work / f"{architecture}-timm-{repeat}"
        timm_runs.append(measured([PYTHON, "-c", SAVE_FOR_HF, architecture, str(checkpoint), str(timm_out)])[:2])
        folder = out / f"custom-{architecture}"
        floors.append(measured([PYTHON, "-c", TRANSFORMERS_FLOOR, str(folder)])[0])
        for mode, path in (("template", folder), ("timm", checkpoint)):
            stdout = measured([PYTHON, "-c", LOAD, mode, architecture, str(path)])[2]
            loads[mode].append(json.loads(stdout.strip().splitlines()[-1])["seconds"])
    result = {
        "checkpoint_mib": size_mib,
        "template_s": median([wall for wall, _ in template]),
        "git_init_s": median(committed),
        "timm_s": median([wall for wall, _ in timm_runs]),
        "transformers_floor_s": median(floors),
        "template_mib": median([peak for _, peak in template]),
        "timm_mib": median([peak for _, peak in timm_runs]),
        "load_template_s": median(loads["template"]),
        "load_timm_s": median(loads["timm"]),
    }
    result["template_copies"] = (result["template_mib"] - floor_mib) / size_mib
    result["timm_copies"] = (result["timm_mib"] - floor_mib) / size_mib
    return result


def batch_against_processes(architectures: list[str], repeats: int, work: Path) -> tuple[float, float]:
    """Median seconds per architecture: one batch process for all, and one cookiecutter process each."""
    batch_runs, process_runs = [], []
    for repeat in range(repeats):
        out = work / f"batch-{repeat}"
        command = [PYTHON, "-m", "timm_hub_template", "batch", *architectures, "--output", str(out)]
        batch_runs.append(measured(command, cwd=ROOT)[0] / len(architectures))
        total = sum(
            measured(template_command(architecture, "random", work / f"cli-{repeat}"))[0]
            for architecture in architectures
        )
        process_runs.append(total / len(architectures))
    return median(batch_runs), median(process_runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", nargs="+", default=["resnet50d", "vit_large_patch16_224"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", nargs="+", default=SMALL, help="architectures for batch mode's comparison")
    parser.add_argument("--template-only", action="store_true", help="time the template alone, with --set variables")
    parser.add_argument("--no-batch", action="store_true", help="leave out batch mode's comparison")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="template variables")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        if args.template_only:
            for architecture in args.architectures:
                runs = [
                    measured(template_command(architecture, "random", work / f"{architecture}-{repeat}", *args.set))
                    for repeat in range(args.repeats)
                ]
                print(
                    f"{architecture} ({' '.join(args.set)}): {median([wall for wall, _, _ in runs]):.0f} s, "
                    f"peak RSS {median([peak for _, peak, _ in runs]) / 1024:.1f} GiB (median of {args.repeats})",
                    flush=True,
                )
            return
        floor = median([measured([PYTHON, "-c", IMPORTS])[1] for _ in range(args.repeats)])
        print(
            f"Import floor (cookiecutter, torch, timm, transformers): {floor:.0f} MiB; medians of {args.repeats} runs\n"
        )
        print(
            "| architecture | checkpoint | template | timm save_for_hf | ratio | git_init=yes | extra / timm "
            "| template peak RSS | timm peak RSS | template above floor | timm above floor | load: Auto class "
            "| load: timm | ratio | Transformers floor | floor / timm |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for architecture in args.architectures:
            r = compare(architecture, args.repeats, work, floor)
            extra = (r["git_init_s"] - r["template_s"]) / r["timm_s"]
            print(
                f"| {architecture} | {r['checkpoint_mib']:.0f} MiB | {r['template_s']:.2f} s | {r['timm_s']:.2f} s "
                f"| {r['template_s'] / r['timm_s']:.2f}x | {r['git_init_s']:.2f} s | {extra:.2f}x "
                f"| {r['template_mib']:.0f} MiB | {r['timm_mib']:.0f} MiB | {r['template_copies']:.2f} copies "
                f"| {r['timm_copies']:.2f} copies | {r['load_template_s']:.2f} s | {r['load_timm_s']:.2f} s "
                f"| {r['load_template_s'] / r['load_timm_s']:.2f}x | {r['transformers_floor_s']:.2f} s "
                f"| {r['transformers_floor_s'] / r['timm_s']:.2f}x |",
                flush=True,
            )
        if args.no_batch:
            return
        per_batch, per_process = batch_against_processes(args.small, args.repeats, work)
        print(
            f"\nBatch mode, {len(args.small)} small architectures ({', '.join(args.small)}): {per_batch:.2f} s each in "
            f"one process, {per_process:.2f} s each as one cookiecutter process per architecture "
            f"({per_process / per_batch:.2f}x)"
        )


if __name__ == "__main__":
    main()
