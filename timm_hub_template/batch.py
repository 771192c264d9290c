"""Batch mode: generate many architectures in one process, importing torch, timm and transformers once.

Each architecture goes through the same steps as `cookiecutter <template> architecture=...`: cookiecutter's own
context and prompt rendering (so derived names are identical), its `generate_files`, then the checks of the
pre-generation hook and the export of the post-generation hook, called in this process instead of a subprocess.
A failed architecture leaves no folder behind.
"""

from __future__ import annotations

import argparse
import fnmatch
import gc
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timm_hub_template.errors import ExportError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    architecture: str
    folder: Path | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def expand(patterns: list[str]) -> list[str]:
    """Architecture names from names and globs (`'resnet*'`), in timm's order, without duplicates."""
    import timm

    names: list[str] = []
    for pattern in patterns:
        if any(char in pattern for char in "*?["):
            matches = fnmatch.filter(timm.list_models(), pattern)
            if not matches:
                raise ValueError(f"no timm architecture matches {pattern!r}")
            names += matches
        else:
            names.append(pattern)
    return list(dict.fromkeys(names))


def shard(names: list[str], index: int, count: int) -> list[str]:
    """Every `count`-th name from `index` on: `count` workers with indices 0..count-1 cover `names` exactly once,
    each with a mix of families (neighbouring names are alike, so a contiguous split would not balance)."""
    return names[index::count]


def parse_shard(value: str) -> tuple[int, int]:
    """`I/N` as (I, N), with 0 <= I < N, e.g. a Slurm array's or a Kubernetes indexed Job's index and count."""
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"--shard {value!r} must be I/N with 0 <= I < N, like 0/4")
    return int(index), int(count)


def render_context(overrides: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """The cookiecutter context a `cookiecutter --no-input <template> key=value ...` run would have."""
    from timm_hub_template.cookiecutter_run import context_for

    return context_for(TEMPLATE_DIR, overrides, output_dir)


def render_files(context: dict[str, Any], output_dir: Path) -> tuple[Path, tuple[str, ...]]:
    """cookiecutter's own rendering of the template (hooks left to the caller); returns the project folder and the
    files rendered into it."""
    from timm_hub_template.cookiecutter_run import render_without_hooks

    _, rendered = render_without_hooks(TEMPLATE_DIR, context, output_dir)
    return output_dir / context["cookiecutter"]["repo_name"], rendered


def parse_answers(context: dict[str, Any]):
    """The typed answers of a rendered context, as the pre-generation hook checks them; raises `ExportError`."""
    from timm_hub_template.answers import AnswerError, parse
    from timm_hub_template.cookiecutter_run import public_context

    try:
        return parse(public_context(context["cookiecutter"]), Path.cwd())
    except AnswerError as error:
        raise ExportError(str(error)) from error


def generate(
    architecture: str, output_dir: Path, weights: str = "random", notes: list[str] | None = None, **overrides: Any
) -> Path:
    """Generate one repository into `output_dir`, exactly as the cookiecutter command would; `notes` receives the
    verification's notes."""
    from timm_hub_template.cookiecutter_run import sigterm_interrupts
    from timm_hub_template.generate import complete, freeze_long_lived_objects
    from timm_hub_template.report import say
    from timm_hub_template.run_files import mark_incomplete

    context = render_context({"architecture": architecture, "weights": weights, **overrides}, output_dir)
    answers = parse_answers(context)
    for warning in answers.warnings:
        say(f"Warning ({architecture}): {warning}", error=True)
    folder = output_dir / answers.repo_name
    if folder.exists():
        raise ExportError(f"{folder} already exists: remove it or choose another output folder")
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        with sigterm_interrupts():  # SIGTERM stops it as Ctrl-C does: through the clean-up below
            _, rendered = render_files(context, output_dir)
            mark_incomplete(folder)
            complete(folder, answers, rendered=rendered, notes=notes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # this function cleans up its own folder
        raise
    finally:
        gc.collect()
    # After a success (a failure's traceback still holds its models): later collections skip the libraries' objects.
    freeze_long_lived_objects()
    return folder


def check_structure(architecture: str, output_dir: Path) -> Path:
    """Render `architecture` and compare its generated model with timm's on the meta device (no weights).

    Returns the folder of generated code, which has no weights: the caller removes it.
    """
    from timm_hub_template.export import compare_keys_and_shapes as check_generated

    context = render_context({"architecture": architecture, "weights": "random"}, output_dir)
    answers = parse_answers(context)
    folder, _ = render_files(context, output_dir)
    check_generated(folder, answers)
    return folder


def run(
    architectures: list[str], output_dir: Path, weights: str = "random", progress: bool = True, **overrides: Any
) -> list[Outcome]:
    """Generate each architecture (`overrides`: other template variables); failures are recorded, not raised."""
    from tqdm.auto import tqdm

    from timm_hub_template.errors import first_line

    outcomes = []
    bar = tqdm(architectures, disable=not progress, unit="model")
    for architecture in bar:
        bar.set_postfix_str(architecture)
        try:
            outcomes.append(Outcome(architecture, folder=generate(architecture, output_dir, weights, **overrides)))
        except Exception as error:  # noqa: BLE001 - one architecture's failure must not stop the batch
            outcomes.append(Outcome(architecture, error=f"{type(error).__name__}: {first_line(error)}"))
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    failed = [outcome for outcome in outcomes if not outcome.ok]
    lines = [f"{len(outcomes) - len(failed)} of {len(outcomes)} generated"]
    lines += [f"FAILED {outcome.architecture}: {outcome.error}" for outcome in failed]
    return "\n".join(lines)
