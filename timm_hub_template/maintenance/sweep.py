"""Coverage sweep: generate every timm architecture with random weights and prove it loads like timm.

Each architecture is generated through the batch mode (the cookiecutter template plus the export of the
post-generation hook), which reloads the folder with the Auto classes and requires logits, pooled features and
processed pixels equal to timm's, in float32 up to `--max-params`. Above it, up to `--bf16-max-params`, the
architecture is generated with `dtype=bfloat16` (as a user publishing it in bf16 would) and the three loaders must
give timm's bf16 outputs exactly: half the memory of float32. Larger ones are built on the meta device and compared
with `timm.create_model` key by key and shape by shape. `--shard I/N` splits a run across machines or sessions;
every run appends to the same log, and a structure-only result is redone by a run that would compare it numerically.

    python -m timm_hub_template.maintenance sweep --workers 2 --output COVERAGE.md
    python -m timm_hub_template.maintenance sweep --bf16-max-params 2000000000 --shard 0/4 --output COVERAGE.md
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from timm_hub_template.batch import parse_shard
from timm_hub_template.meta_build import on_meta_device

DEFAULT_MAX_PARAMS = 400_000_000


@dataclass
class Result:
    name: str
    family: str
    explicit: bool
    params: int
    status: str  # "exact", "structure" or "fail"
    reason: str = ""  # why it failed
    seconds: float = 0.0
    fallback: str = ""  # why it is built by name (empty: explicit fields)
    # Per loader of verify.LOADERS: "exact", "structure" or "fail"; empty when the run did not reach the loaders.
    loaders: dict[str, str] = field(default_factory=dict)
    dtype: str = "float32"  # of the numeric comparison ("bfloat16" above --max-params); unused for structure

    @property
    def bf16(self) -> bool:
        """Exact in bfloat16."""
        return self.status == "exact" and self.dtype == "bfloat16"


@dataclass(frozen=True)
class Limits:
    """Up to `max_params` parameters compared numerically in float32, then up to `bf16_max_params` in bfloat16;
    larger ones on the meta device (structure)."""

    max_params: int
    bf16_max_params: int = 0

    def dtype_for(self, params: int) -> str | None:
        if params <= self.max_params:
            return "float32"
        return "bfloat16" if params <= self.bf16_max_params else None


def family_of(name: str) -> str:
    from timm.models import model_entrypoint

    return model_entrypoint(name).__module__.rsplit(".", 1)[-1]


def check_one(name: str, limits: Limits) -> Result:
    """Generate `name` and check it; never raises."""
    import timm

    from timm_hub_template import batch
    from timm_hub_template.errors import first_line
    from timm_hub_template.formatting import ruff_problems
    from timm_hub_template.introspection import inspect_architecture
    from timm_hub_template.verify import LOADERS

    start = time.perf_counter()
    family, explicit, fallback, params, dtype = family_of(name), False, "", 0, "float32"
    try:
        spec = inspect_architecture(name)
        explicit, fallback = spec.explicit, spec.fallback_reason
        with on_meta_device():
            params = sum(p.numel() for p in timm.create_model(name).parameters())
        numeric = limits.dtype_for(params)  # None: structure only
        with tempfile.TemporaryDirectory() as work:
            notes: list[str] = []
            if numeric:
                folder = batch.generate(name, Path(work), weights="random", git_init="no", dtype=numeric, notes=notes)
                status, dtype = "exact", published_dtype(folder)
            else:
                folder = batch.check_structure(name, Path(work))
                status = "structure"
            problems = ruff_problems(folder)
        # Structure-only runs build the generated model on the meta device: timm and TimmWrapper are not run.
        loaders = dict.fromkeys(LOADERS, status) if status == "exact" else {LOADERS[0]: status}
        if any(note.startswith("TimmWrapper") for note in notes):
            loaders["TimmWrapper"] = "aligned"  # exact once its mapped tensors are aligned (verify.realign)
        reason = f"ruff: {problems[0]}" if problems else "; ".join(notes)
        status = "fail" if problems else status
    except Exception as error:  # noqa: BLE001 - the sweep records every failure and goes on
        status, reason = "fail", f"{type(error).__name__}: {first_line(error)}"
        failed = getattr(error, "failures", None)  # verify.LoaderError: the loaders that failed
        loaders = {loader: "fail" if loader in failed else "exact" for loader in LOADERS} if failed else {}
    seconds = time.perf_counter() - start
    return Result(name, family, explicit, params, status, reason, seconds, fallback, loaders, dtype)


def published_dtype(folder: Path) -> str:
    """The weights' dtype as the generated config.json records it (`torch_dtype` before Transformers 5)."""
    config = json.loads((folder / "config.json").read_text())
    return config.get("dtype") or config["torch_dtype"]


def sweep(names: list[str], workers: int, limits: Limits, log: Path | None = None) -> list[Result]:
    """Check `names` in worker processes; results already in `log` (JSON lines) are reused, new ones appended.
    A structure-only result is redone when `limits` would now compare that architecture numerically."""
    from tqdm.auto import tqdm

    results = latest(load_results(log))
    redo = {r.name for r in results if r.status == "structure" and limits.dtype_for(r.params)}
    done = {result.name for result in results} - redo
    todo = [name for name in names if name not in done]
    # Fresh worker processes now and then return the memory that big models leave fragmented. (multiprocessing's
    # Pool: concurrent.futures' max_tasks_per_child can hang on Python 3.11 when it replaces workers.)
    threads = max(1, (os.cpu_count() or 1) // workers)  # workers x threads = cores: no oversubscription
    with multiprocessing.get_context("spawn").Pool(
        workers, initializer=_set_threads, initargs=(threads,), maxtasksperchild=40
    ) as pool:
        tasks = pool.imap_unordered(functools.partial(check_one, limits=limits), todo)
        for result in tqdm(tasks, total=len(todo), unit="model"):
            results = [r for r in results if r.name != result.name] + [result]
            if log:
                with log.open("a") as file:
                    file.write(json.dumps(asdict(result)) + "\n")
    wanted = set(names)
    return sorted((r for r in results if r.name in wanted), key=lambda result: (result.family, result.name))


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def load_results(log: Path | None) -> list[Result]:
    if not log or not log.exists():
        return []
    return [Result(**json.loads(line)) for line in log.read_text().splitlines() if line.strip()]


def latest(results: list[Result]) -> list[Result]:
    """The last result of each name (a numeric run appends after the structure-only one it replaces)."""
    return list({result.name: result for result in results}.values())


def report(
    results: list[Result],
    total: int,
    wall_seconds: float | None,
    peak_rss_mb: float | None,
    workers: int,
    limits: Limits,
    command: str,
) -> str:
    import timm
    import torch
    import transformers

    from timm_hub_template.verify import LOADERS

    by_family = defaultdict(list)
    for result in results:
        by_family[result.family].append(result)
    count = {status: sum(r.status == status for r in results) for status in ("exact", "structure", "fail")}
    bf16 = sum(r.bf16 for r in results)
    explicit = sum(r.explicit for r in results)
    lines = [
        "# Coverage of timm's architectures",
        "",
        (
            f"Generated by `{command}` with timm {timm.__version__}, transformers {transformers.__version__}, torch {torch.__version__}, on "
            f"{os.cpu_count()} CPU cores."
        ),
        "",
        "- **exact**: generated with random weights and reloaded three ways (the repository's code with",
        "  `trust_remote_code=True`, Transformers' TimmWrapper without it, `timm.create_model('local-dir:...')`),",
        "  logits, pooled features and processed pixels equal to timm's (`torch.equal`, CPU float32); the last",
        f"  columns count the exact results of each loader ({', '.join(LOADERS)}). **aligned**: TimmWrapper keeps",
        "  the tensors where it maps them in model.safetensors; after a tensor whose size is not a multiple of 64",
        "  bytes the next ones are unaligned, where some CPU kernels round differently: its outputs equal timm's once",
        "  those are copied to aligned memory (as timm and the generated code load them).",
        f"- **bf16**: above {limits.max_params / 1e6:.0f}M parameters, generated with `dtype=bfloat16` (half the",
        "  memory) and compared the same way in bfloat16: timm's bf16 model and each loader's give equal outputs.",
        f"- **structure**: above {max(limits.max_params, limits.bf16_max_params) / 1e6:.0f}M parameters (or not yet",
        "  run numerically), built on the meta device only: the generated",
        "  model's state-dict keys and shapes equal `timm.create_model`'s (timm and TimmWrapper are not run).",
        "- **explicit**: config fields are the constructor arguments; otherwise the fallback builds by name.",
        "- every generated folder's Python files must also pass `ruff check` and `ruff format --check` (ruff's",
        "  defaults, `--isolated`); a finding is a failure.",
        "",
        "## Totals",
        "",
        f"- architectures: {len(results)} of {total} in {len(by_family)} families",
        (
            f"- exact: {count['exact']} ({count['exact'] - bf16} in float32, {bf16} in bfloat16), "
            f"structure only: {count['structure']}, failed: {count['fail']}"
        ),
        f"- explicit fields: {explicit}, fallback: {len(results) - explicit}",
        (
            f"- wall time: {wall_seconds / 60:.1f} min with {workers} workers; peak RSS of one worker: {peak_rss_mb:.0f} MB"
            if wall_seconds is not None
            else f"- wall time: not measured (report rebuilt from COVERAGE.jsonl); the architectures' own times add "
            f"up to {sum(r.seconds for r in results) / 60:.1f} min of worker time"
        ),
        "",
        "## By family",
        "",
        f"| family | names | explicit | exact | of them bf16 | structure | failed | {' | '.join(LOADERS)} |",
        "|---|---|---|---|---|---|---|" + "---|" * len(LOADERS),
    ]
    for family, members in sorted(by_family.items()):
        lines.append(
            f"| {family} | {len(members)} | {sum(r.explicit for r in members)} | "
            f"{sum(r.status == 'exact' for r in members)} | {sum(r.bf16 for r in members)} | "
            f"{sum(r.status == 'structure' for r in members)} | "
            f"{sum(r.status == 'fail' for r in members)} | {' | '.join(loader_cell(members, l) for l in LOADERS)} |"
        )
    fallbacks = [r for r in results if not r.explicit and r.status != "fail"]
    failures = [r for r in results if r.status == "fail"]
    structure = [r for r in results if r.status == "structure"]
    aligned = [r for r in results if r.loaders.get("TimmWrapper") == "aligned"]
    bf16_rows = [r for r in results if r.bf16]
    noted = [r for r in results if r.status == "exact" and r.reason and r not in aligned]
    for title, rows, why in (
        ("Failures", failures, "reason"),
        ("TimmWrapper exact once its mapped tensors are aligned", aligned, "reason"),
        ("Exact in bfloat16", bf16_rows, "reason"),
        ("Exact, with a note of the verification", noted, "reason"),
        ("Fallback (built by name)", fallbacks, "fallback"),
        ("Structure only", structure, "reason"),
    ):
        lines += ["", f"## {title}", ""]
        for r in rows:
            explanation = getattr(r, why)
            lines.append(
                f"- `{r.name}` ({r.family}, {r.params / 1e6:.0f}M){': ' + explanation if explanation else ''}"
            )
        if not rows:
            lines.append("none")
    return "\n".join(lines) + "\n"


def loader_cell(members: list[Result], loader: str) -> str:
    """How many of `members` load exactly this way (structure-only ones counted apart, for the repository's code
    only; "?" for runs before the per-loader record)."""
    if any(not r.loaders for r in members if r.status == "exact"):
        return "?"
    exact = sum(r.loaders.get(loader) == "exact" for r in members)
    aligned = sum(r.loaders.get(loader) == "aligned" for r in members)
    structure = sum(r.loaders.get(loader) == "structure" for r in members)
    return (
        f"{exact}"
        + (f" (+{aligned} aligned)" if aligned else "")
        + (f" (+{structure} structure)" if structure else "")
    )


def siblings_section(log: Path | None) -> str:
    """The sibling sweep's totals (SIBLINGS.md beside COVERAGE.md has every class), when it has run."""
    from timm_hub_template.maintenance import siblings

    results = siblings.load_results(log)
    if not results:
        return ""
    lines = ["", "## Siblings: the config decides the model", ""]
    lines += [
        "From `python -m timm_hub_template.maintenance siblings` (every class and unreached sibling: SIBLINGS.md):",
        "",
    ]
    return "\n".join([*lines, *siblings.totals(results)]) + "\n"


def main(
    names: list[str],
    workers: int,
    limits: Limits,
    output: Path | None,
    report_only: bool = False,
    command: str = "python -m timm_hub_template.maintenance sweep",
) -> int:
    log = output.with_suffix(".jsonl") if output else None
    if report_only:  # the table of what COVERAGE.jsonl holds, e.g. after an interrupted or sharded sweep
        wanted = set(names)
        results = sorted((r for r in latest(load_results(log)) if r.name in wanted), key=lambda r: (r.family, r.name))
        text = report(results, len(names), None, None, workers, limits, command)
    else:
        start = time.perf_counter()
        results = sweep(names, workers, limits, log)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        text = report(results, len(names), wall, peak_mb, workers, limits, command)
    text += siblings_section(output.with_name("SIBLINGS.jsonl") if output else None)
    if output:
        output.write_text(text)
    print(text.split("## By family")[0])
    return 0 if all(r.status != "fail" for r in results) else 1


HELP = "generate and check every architecture (the coverage table)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("architectures", nargs="*", default=["*"], help="names or globs (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-params", type=int, default=DEFAULT_MAX_PARAMS, help="compare in float32 up to this")
    parser.add_argument(
        "--bf16-max-params",
        type=int,
        default=0,
        help="above --max-params, compare in bfloat16 up to this (default 0: none); larger: structure only",
    )
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), metavar="I/N", help="check only shard I of N")
    parser.add_argument("--output", type=Path, default=Path("docs/reports/COVERAGE.md"))
    parser.add_argument("--report-only", action="store_true", help="rebuild the table from COVERAGE.jsonl")


def run(args: argparse.Namespace) -> int:
    from timm_hub_template.batch import expand, shard

    names = shard(expand(args.architectures), *args.shard)
    limits = Limits(args.max_params, args.bf16_max_params)
    command = " ".join(["python -m timm_hub_template.maintenance sweep", *sys.argv[2:]])
    return main(names, args.workers, limits, args.output, args.report_only, command)
