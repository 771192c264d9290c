"""Load time of a generated repository, each way users load it, against timm loading its own export.

For each architecture (default: resnet50d and vit_large_patch16_224), from one safetensors checkpoint of timm's
random initialisation, the template generates a folder (`weights=<checkpoint> git_init=no`) and timm's
`save_for_hf` writes its own; then each way of loading runs in a fresh process per repeat:

- timm (own export): `timm.create_model("local-dir:<save_for_hf folder>", pretrained=True)`, the reference;
- timm: `timm.create_model("local-dir:<generated folder>", pretrained=True)`;
- TimmWrapper: `AutoModelForImageClassification.from_pretrained(<generated folder>)` (no remote code);
- custom code: `AutoModelForImageClassification.from_pretrained(<generated folder>, trust_remote_code=True)`.

Three times per run: the whole fresh process (interpreter start, imports, first load: what a user's script pays);
the first load inside it, after the imports; and a second load of the same folder in the same process (what a
server or notebook that loads again pays). "After the imports" means after `import timm` in every way (each way
builds a timm model, and the Transformers ways would otherwise import timm lazily inside the timed call) and, in
the Transformers ways, `from transformers import AutoModelForImageClassification` with the module that
`from_pretrained` imports lazily on its first call (`transformers.modeling_utils`), so the in-process columns time
loading, not importing. What a first `from_pretrained` builds once per process (Transformers' table of weight
conversions) stays in the first load. The ways run interleaved, repeat by repeat, so that the machine's drift
touches each alike; the table gives medians and the ratio of each to timm loading its own export. Each process gets
a fresh HF_MODULES_CACHE, as a user's first load of a repository does.

    python benchmarks/loading.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WAYS = ("timm (own export)", "timm", "TimmWrapper", "custom code")

LOAD = """
import json, sys, time
way, folder = sys.argv[1:3]
start = time.perf_counter()
import timm
if not way.startswith("timm"):
    import transformers.modeling_utils  # what from_pretrained imports lazily on its first call
    from transformers import AutoModelForImageClassification

def load():
    if way.startswith("timm"):
        return timm.create_model(f"local-dir:{folder}", pretrained=True)
    return AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=way == "custom code")

imported = time.perf_counter()
model = load()
loaded = time.perf_counter()
load()
again = time.perf_counter()
print(json.dumps({"imports": imported - start, "load": loaded - imported, "again": again - loaded,
                  "class": type(model).__name__}))
"""

SAVE_FOR_HF = """
import sys, timm
from timm.models import save_for_hf
architecture, checkpoint, out = sys.argv[1:4]
model = timm.create_model(architecture, pretrained=True, pretrained_cfg_overlay={"file": checkpoint})
save_for_hf(model, out)
"""

CHECKPOINT = """
import sys, timm, torch
from safetensors.torch import save_file
torch.manual_seed(0)
model = timm.create_model(sys.argv[1])
save_file({key: value.contiguous() for key, value in model.state_dict().items()}, sys.argv[2])
"""


def prepare(architecture: str, work: Path) -> dict[str, Path]:
    """The checkpoint, the generated folder and timm's own export of the same weights."""
    checkpoint = work / f"{architecture}.safetensors"
    subprocess.run([PYTHON, "-c", CHECKPOINT, architecture, str(checkpoint)], check=True)
    generated = work / "generated"
    command = [PYTHON, "-m", "cookiecutter", "--no-input", "-o", str(generated), str(ROOT)]
    subprocess.run(
        [*command, f"architecture={architecture}", f"weights={checkpoint}", "git_init=no"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    own = work / "timm-own"
    subprocess.run([PYTHON, "-c", SAVE_FOR_HF, architecture, str(checkpoint), str(own)], check=True)
    return {"timm (own export)": own, "generated": generated / f"custom-{architecture}"}


def run_once(way: str, folder: Path, work: Path) -> dict[str, float]:
    modules = tempfile.mkdtemp(prefix="modules-", dir=work)
    env = {**os.environ, "HF_MODULES_CACHE": modules, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    result = subprocess.run(
        [PYTHON, "-c", LOAD, way, str(folder)], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The process's wall time up to its first load: the second load is not what a script pays.
    wall = time.perf_counter() - start - report["again"]
    return {"process": wall, "load": report["load"], "again": report["again"], "class": report["class"]}


def measure(architecture: str, repeats: int, work: Path) -> dict[str, dict[str, float]]:
    folders = prepare(architecture, work)
    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    for _ in range(repeats):
        for way in WAYS:
            folder = folders["timm (own export)"] if way == "timm (own export)" else folders["generated"]
            runs[way].append(run_once(way, folder, work))
    return {
        way: {
            "process": statistics.median(run["process"] for run in results),
            "load": statistics.median(run["load"] for run in results),
            "again": statistics.median(run["again"] for run in results),
            "class": results[0]["class"],
        }
        for way, results in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", nargs="+", default=["resnet50d", "vit_large_patch16_224"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"Medians of {args.repeats} fresh processes per way; ratios to timm loading its own save_for_hf export.")
    print()
    print(
        "| architecture | way | class | fresh process | ratio | first load after imports | ratio | second load | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for architecture in args.architectures:
        with tempfile.TemporaryDirectory() as work:
            results = measure(architecture, args.repeats, Path(work))
        base = results["timm (own export)"]
        for way in WAYS:
            r = results[way]
            print(
                f"| {architecture} | {way} | {r['class']} | {r['process']:.2f} s | {r['process'] / base['process']:.2f}x "
                f"| {r['load']:.2f} s | {r['load'] / base['load']:.2f}x "
                f"| {r['again']:.2f} s | {r['again'] / base['again']:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
