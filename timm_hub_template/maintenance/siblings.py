"""Sibling sweep: one generated repository of a timm class builds every architecture of the class from its config.

For each timm class with two or more architectures (timm_classes.json), the code of one architecture (the base)
is rendered; every other architecture of the class (a sibling) is then built by the base's config and modeling
files from the sibling's config values alone (its `config.json` fields, through a JSON round trip), on the meta
device, and its state-dict keys and shapes must equal `timm.create_model(sibling)`'s. For a few small siblings per
class the weights of timm's sibling model are loaded too, and the logits must equal timm's. The modeling file
rendered for each sibling (with the base's names) must be the base's, byte for byte.

    python -m timm_hub_template.maintenance siblings ResNet EfficientNet --output SIBLINGS.md
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from timm_hub_template.meta_build import on_meta_device

SMALL_PARAMS = 30_000_000  # siblings up to this size are candidates for the logits check


@dataclass
class Reach:
    sibling: str
    reached: bool
    reason: str = ""  # why not
    logits: bool = False  # logits compared equal with timm's (weights of timm's sibling loaded)
    same_code: bool = True  # its rendered modeling file is the base's


@dataclass
class ClassReach:
    model_class: str  # `module:qualname`
    base: str
    siblings: list[Reach] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)  # architectures no config can hold (built by name)
    seconds: float = 0.0


def class_table() -> dict[str, Any]:
    from timm_hub_template.introspection import class_table as table_of_classes

    table = table_of_classes()
    if not table:
        raise RuntimeError(
            "timm_classes.json is missing or for another timm: python -m timm_hub_template.maintenance classes"
        )
    return table


def resolve_classes(names: list[str]) -> list[str]:
    """Class keys for class names (`ResNet`) or keys (`timm.models.resnet:ResNet`); all with 2+ explicit by default."""
    table = class_table()
    if not names:
        return [
            key
            for key, entry in table.items()
            if len([name for name in entry["architectures"] if name not in entry["fallback"]]) >= 2
        ]
    keys = []
    for name in names:
        matches = [key for key in table if key == name or key.rsplit(":", 1)[-1] == name]
        if not matches:
            raise ValueError(f"no timm class {name!r} in timm_classes.json")
        keys += matches
    return keys


def render_code(architecture: str, output_dir: Path, names: dict[str, str] | None = None) -> Path:
    """The rendered code of `architecture` (no weights, no export), with `names` (module_name ...) if given."""
    from timm_hub_template import batch

    context = batch.render_context({"architecture": architecture, "weights": "random", **(names or {})}, output_dir)
    return batch.render_files(context, output_dir)[0]


def state_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {key.removeprefix("timm_model."): tuple(value.shape) for key, value in module.state_dict().items()}


def build_sibling(package: dict[str, Any], module: str, prefix: str, sibling: str, device: str = "meta") -> Any:
    """The base repository's model for `sibling`'s config values, as if edited into its config.json."""
    import torch

    from timm_hub_template.introspection import inspect_architecture

    spec = inspect_architecture(sibling)
    if not spec.explicit:
        raise ValueError(f"built by name: {spec.fallback_reason}")
    config_class = getattr(package[f"configuration_{module}"], f"{prefix}Config")
    values = json.loads(json.dumps(spec.config_values))  # what config.json holds
    base_fields = set(config_class().to_dict())
    missing = sorted(name for name in values if name not in base_fields)
    if missing:
        raise ValueError(f"fields not in the base config: {', '.join(missing)}")
    config = config_class(**values, num_labels=max(spec.num_classes, 1))
    modeling = package[f"modeling_{module}"]
    model_class = f"{prefix}ForImageClassification" if spec.num_classes else f"{prefix}Model"
    with torch.device(device):
        return getattr(modeling, model_class)(config)


def check_sibling(package: dict[str, Any], module: str, prefix: str, sibling: str, logits: bool) -> Reach:
    import timm

    from timm_hub_template.errors import first_line

    try:
        model = build_sibling(package, module, prefix, sibling)
        with on_meta_device():
            reference = timm.create_model(sibling)
        if state_shapes(model.timm_model) != state_shapes(reference):
            ours, theirs = state_shapes(model.timm_model), state_shapes(reference)
            differing = sorted(set(ours) ^ set(theirs)) or [k for k in ours if ours[k] != theirs[k]]
            return Reach(sibling, False, f"state dict differs at {differing[0]} ({len(differing)} keys)")
        if logits:
            compare_logits(package, module, prefix, sibling)
        return Reach(sibling, True, logits=logits)
    except Exception as error:  # noqa: BLE001 - every sibling's outcome is recorded
        return Reach(sibling, False, f"{type(error).__name__}: {first_line(error)}")


def compare_logits(package: dict[str, Any], module: str, prefix: str, sibling: str) -> None:
    """Load the weights of timm's `sibling` (seed 0) into the base repository's model for it; logits must match."""
    import timm
    import torch
    from timm.data import resolve_model_data_config

    torch.manual_seed(0)
    reference = timm.create_model(sibling).eval()
    model = build_sibling(package, module, prefix, sibling, device="cpu").eval()
    model.timm_model.load_state_dict(reference.state_dict())
    size = resolve_model_data_config(reference)["input_size"]
    pixels = torch.randn(1, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(pixels), model.timm_model(pixels)
    if not torch.equal(expected, got):
        raise AssertionError(f"logits differ from timm's by {(expected - got).abs().max().item():.3g}")


@functools.cache
def params_on_meta(name: str) -> int:
    import timm

    with on_meta_device():
        return sum(p.numel() for p in timm.create_model(name).parameters())


def reach_class(key: str, logits: int = 3, base: str | None = None, same_code: bool = True) -> ClassReach:
    """Generate the base of class `key` and build every sibling from it."""
    from timm_hub_template.export import import_generated_package
    from timm_hub_template.names import class_prefix, module_name

    start = time.perf_counter()
    entry = class_table()[key]
    explicit = [name for name in entry["architectures"] if name not in entry["fallback"]]
    base = base or explicit[0]
    result = ClassReach(key, base, fallback=list(entry["fallback"]))
    names = {"module_name": module_name(base), "class_prefix": class_prefix(module_name(base))}
    with tempfile.TemporaryDirectory() as scratch:
        folder = render_code(base, Path(scratch) / "base")
        base_code = (folder / f"modeling_{names['module_name']}.py").read_text()
        package = import_generated_package(folder, Path(scratch), names["module_name"])
        small = [name for name in explicit if name != base and params_on_meta(name) <= SMALL_PARAMS] if logits else []
        chosen = set(sorted(small, key=params_on_meta)[:logits])
        for index, sibling in enumerate(name for name in entry["architectures"] if name != base):
            reach = check_sibling(package, names["module_name"], names["class_prefix"], sibling, sibling in chosen)
            if same_code and sibling in explicit:
                other = render_code(sibling, Path(scratch) / f"sibling{index}", {**names, "repo_name": f"s{index}"})
                reach.same_code = (other / f"modeling_{names['module_name']}.py").read_text() == base_code
            result.siblings.append(reach)
    result.seconds = time.perf_counter() - start
    return result


def report(results: list[ClassReach]) -> str:
    import timm

    lines = [
        "# Siblings: every architecture of a timm class from one repository's config",
        "",
        f"Generated by `python -m timm_hub_template.maintenance siblings` with timm {timm.__version__}. For each timm class with",
        "two or more architectures, one repository (the base) is rendered and every other architecture of the class",
        "is built by its code from that architecture's config values alone (as if written into its `config.json`):",
        "state-dict keys and shapes equal `timm.create_model(sibling)`'s on the meta device; for up to a few small",
        "siblings per class, timm's sibling weights are loaded and the logits are equal (`torch.equal`). *same code*:",
        "the modeling file rendered for the sibling (with the base's names) is the base's, byte for byte (siblings",
        "built by name, listed under *fallback*, are counted as the same: their files are not compared).",
        "",
        "## Totals",
        "",
        *totals(results),
        "",
        "## By class",
        "",
        "| class | base | siblings | reached | logits equal | same code | fallback |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        rows = result.siblings
        lines.append(
            f"| {result.model_class} | {result.base} | {len(rows)} | {sum(r.reached for r in rows)} | "
            f"{sum(r.logits for r in rows)} | {sum(r.same_code for r in rows)} | {len(result.fallback)} |"
        )
    lines += ["", "## Not reached", ""]
    missed = [(result, reach) for result in results for reach in result.siblings if not reach.reached]
    lines += [f"- `{reach.sibling}` from `{result.base}`: {reach.reason}" for result, reach in missed] or ["none"]
    lines += ["", "## Different modeling file", ""]
    differing = [(result, reach) for result in results for reach in result.siblings if not reach.same_code]
    lines += [f"- `{reach.sibling}` (base `{result.base}`)" for result, reach in differing] or ["none"]
    return "\n".join(lines) + "\n"


def totals(results: list[ClassReach]) -> list[str]:
    """The report's totals, as Markdown list items (COVERAGE.md repeats them)."""
    siblings = [reach for result in results for reach in result.siblings]
    reached = sum(reach.reached for reach in siblings)
    return [
        f"- classes: {len(results)}; siblings: {len(siblings)}, reached: {reached}, not reached: {len(siblings) - reached}",
        f"- logits equal: {sum(reach.logits for reach in siblings)} siblings",
        f"- same modeling file: {sum(reach.same_code for reach in siblings)} of {len(siblings)}",
    ]


def load_results(log: Path | None) -> list[ClassReach]:
    if not log or not log.exists():
        return []
    results = []
    for line in log.read_text().splitlines():
        data = json.loads(line)
        results.append(ClassReach(**{**data, "siblings": [Reach(**reach) for reach in data["siblings"]]}))
    return results


def main(classes: list[str], output: Path | None, logits: int = 3, report_only: bool = False) -> int:
    """Reach every sibling of `classes`; results already in the output's .jsonl are reused, new ones appended.

    `report_only`: the report of the classes the .jsonl holds, e.g. after an interrupted sweep.
    """
    from tqdm.auto import tqdm

    log = output.with_suffix(".jsonl") if output else None
    done = {result.model_class: result for result in load_results(log)}
    keys = [key for key in resolve_classes(classes) if key in done or not report_only]
    for key in tqdm([key for key in keys if key not in done], unit="class"):
        done[key] = reach_class(key, logits)
        if log:
            with log.open("a") as file:
                file.write(json.dumps(asdict(done[key])) + "\n")
    results = [done[key] for key in sorted(keys)]
    text = report(results)
    if output:
        output.write_text(text)
    print(text.split("## By class")[0])
    return 0 if all(reach.reached for result in results for reach in result.siblings) else 1


HELP = "build every architecture of a class from one repo's config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("classes", nargs="*", help="timm classes, e.g. ResNet (default: all with 2+ architectures)")
    parser.add_argument("--output", type=Path, default=Path("docs/reports/SIBLINGS.md"))
    parser.add_argument("--logits", type=int, default=3, help="per class, compare logits for this many small siblings")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from SIBLINGS.jsonl")


def run(args: argparse.Namespace) -> int:
    return main(args.classes, args.output, args.logits, args.report_only)
