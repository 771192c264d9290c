"""One repository from a rendered folder: export, verify, publish, and say what happened.

`complete(project_dir, answers)` is the one path from a folder cookiecutter rendered to a finished repository; the
post-generation hook (through `jinja_extension.complete_generation`, in cookiecutter's process) and batch mode both
call it. It exports
the weights and Hub files, proves the folder loads like timm, then makes the initial commit and the opt-in push,
only when the run was asked for by cookiecutter (its command line or Python API), `cruft create` or batch mode
(never in the scratch folders of `cruft update` and `cruft diff`). A publishing step that cannot happen is a
warning: a failing hook would make cookiecutter delete the complete folder. What is committed and pushed is exactly
the files the run wrote, as it wrote them (`run_files.RunFiles`).

Until the verification has passed, the folder holds `GENERATION_INCOMPLETE.txt` (`run_files.mark_incomplete`,
before anything is rendered into it): an interrupted run (Ctrl-C, SIGTERM) leaves no folder when it created it, else
one that says so.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template import digests, publish
from timm_hub_template.errors import ExportError, first_line, printable
from timm_hub_template.report import say

if TYPE_CHECKING:
    from timm_hub_template.answers import Answers


@dataclass
class Summary:
    """What a generation produced, for the lines printed after it."""

    folder: Path
    verified: list[str]
    published: publish.Published
    answers: Answers | None = None
    notes: tuple[str, ...] = ()  # what the verification found worth saying

    def text(self) -> str:
        size = sum(
            path.stat().st_size for path in self.folder.rglob("*") if path.is_file() and ".git" not in path.parts
        )
        lines = [
            f"Generated {self.folder} ({size / 1e6:.1f} MB)",
            f"Verified: loaded with its code, with TimmWrapper and with timm, {', '.join(self.verified)} equal to timm's",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        lines += self._inputs()
        repo_id = self.published.repo_id if "/" in self.published.repo_id else f"<owner>/{self.published.repo_id}"
        if "/" not in self.published.repo_id:
            lines.append(
                f"Warning: the card names the repository {self.published.repo_id!r} with no owner (hub_owner is "
                "empty), which the Hub cannot find: generate again with hub_owner=<user or organisation> before you "
                "publish it (push_to_hub=yes fills in your account)"
            )
        upload = publish.upload_command(repo_id, self.folder, self.published.left_out)
        if self.published.url:
            lines.append(f"Pushed: {self.published.url}")
        elif self.published.commit:
            lines.append(f"Next: cd {self.folder} && git remote add origin https://huggingface.co/{repo_id}")
            lines.append(f"      git push -u origin main   (or: {upload})")
        else:
            lines.append(f"Next: {upload}")
        return "\n".join(lines)

    def _inputs(self) -> list[str]:
        """The local files the run read, as absolute paths (the published files name none of them)."""
        answers, lines = self.answers, []
        if answers is None:
            return lines
        if answers.checkpoint is not None:
            entry = f" ({answers.checkpoint.key})" if answers.checkpoint.key else ""
            lines.append(f"Weights: {answers.checkpoint.path.resolve()}{entry}, published in {answers.dtype}")
        if answers.labels_file is not None:
            lines.append(f"Labels: {len(answers.labels)} class names from {answers.labels_file}")
        elif answers.labels_source:
            lines.append(f"Labels: {len(answers.labels)} class names from {answers.labels_source.replace('`', '')}")
        elif answers.has_head and not answers.labels:
            lines.append(
                f"Labels: none, the {answers.spec.num_classes} classes are LABEL_0 ... (labels=<file> names them)"
            )
        return lines


def complete(
    project_dir: Path,
    answers: Answers,
    scratch: bool = False,
    rendered: tuple[str, ...] = (),
    notes: list[str] | None = None,
    step: Callable[[str], None] = lambda line: None,
) -> Summary:
    """Export, verify and (unless `scratch`: a render nobody asked to publish) publish the rendered `project_dir`;
    raises `ExportError`.

    `rendered`: the files cookiecutter rendered into the folder (relative paths). With the export's files, they are
    what the run wrote, and all that is committed and uploaded: any other file in the folder (the user's, in a `-f`
    run, or one that appeared or changed during the run) is named and left out. Once the folder is verified, an
    interrupt while publishing keeps it. `notes` receives what the verification found worth saying, `step` a line
    as each step is done.
    """
    from timm_hub_template import run_files
    from timm_hub_template.export import export
    from timm_hub_template.verify import verify_folder

    project_dir = Path(project_dir).resolve()
    if answers.checkpoint is not None:
        digests.start(answers.checkpoint.path)  # the card's SHA-256, hashed on another core while the export works
    answers, push_problem = (answers, "") if scratch else publish.with_hub_owner(answers)
    with quiet_progress_bars():
        written: dict[str, str | None] = dict.fromkeys(rendered)
        reference = export(project_dir, answers, written, step)
        ours = run_files.RunFiles.record(project_dir, written)  # what the run wrote, as it wrote it
        notes = [] if notes is None else notes
        verified = verify_folder(project_dir, answers, reference, notes, step)
        (project_dir / run_files.INCOMPLETE_MARKER.name).unlink(missing_ok=True)
        if scratch:
            return Summary(project_dir, verified, publish.Published(repo_id=answers.repo_id), answers, tuple(notes))
        files, foreign = ours.published()
        actions = [
            ("a git commit (weights in Git LFS)", answers.git_init),
            (f"a push to {answers.repo_id}", answers.push_to_hub),
        ]
        if any(asked for _, asked in actions):
            step(f"Publishing: {' and '.join(action for action, asked in actions if asked)}")
        try:
            published = publish.publish_folder(project_dir, answers, push_problem, foreign, files, ours.digests(files))
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (errors.Interrupted)
            published = publish.Published(repo_id=answers.repo_id, left_out=foreign)
            say(
                "Warning: interrupted while publishing; the folder is complete and verified: "
                f"upload it with `{publish.upload_command(answers.repo_id, project_dir, foreign)}`",
                error=True,
            )
        return Summary(project_dir, verified, published, answers, tuple(notes))


@contextlib.contextmanager
def quiet_progress_bars():
    """No per-step progress bars from Transformers and huggingface_hub ("Loading weights", "Writing model shards"),
    and no Transformers warnings about the expected loading reports."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from transformers.utils import logging

    hub_disabled, transformers_enabled = are_progress_bars_disabled(), logging.is_progress_bar_enabled()
    verbosity = logging.get_verbosity()
    disable_progress_bars()
    logging.disable_progress_bar()
    # The verification's loading reports (the classifier's head keys the features model leaves out) are expected.
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if not hub_disabled:
            enable_progress_bars()
        if transformers_enabled:
            logging.enable_progress_bar()


def hook_outcome(
    context: dict[str, Any],
    project_dir: Path,
    invocation_dir: Path,
    rendered: tuple[str, ...] = (),
    scratch: bool = False,
) -> str:
    """The post-generation hook's work, run while cookiecutter renders the hook: "" after printing the summary,
    else the one line the hook reports (cookiecutter then removes the folder it created). `invocation_dir`: where
    the user ran cookiecutter; `rendered`: the files cookiecutter rendered; `scratch`: the run was not asked to
    publish (`cookiecutter_run.asked_to_publish`)."""
    from timm_hub_template import answers as parsing

    try:
        answers = parsing.parse(context, invocation_dir)
        summary = complete(project_dir, answers, scratch, rendered, step=say)
    except (ExportError, parsing.AnswerError) as error:
        return printable(str(error))
    except KeyboardInterrupt as error:  # Ctrl-C, or SIGTERM (errors.Interrupted)
        return f"interrupted ({type(error).__name__}): the folder was not finished"
    except Exception as error:  # noqa: BLE001 - any failure is reported as one line (traceback on request)
        if os.environ.get("TIMM_HUB_TEMPLATE_DEBUG"):
            traceback.print_exc()
        return printable(
            f"{type(error).__name__} while exporting {context.get('architecture')}: {first_line(error)} "
            "(set TIMM_HUB_TEMPLATE_DEBUG=1 for the traceback)"
        )
    # The folder is verified (and published as asked): from here on nothing may fail the hook.
    try:
        say(summary.text())
    except BaseException:  # noqa: BLE001 - an interrupt or a vanished folder while reporting keeps the work
        say(f"Generated {summary.folder}", error=True)
    return ""


@functools.cache
def freeze_long_lived_objects() -> None:
    """Once per process, after a generation: move every object tracked so far (mostly those of torch, timm and
    Transformers, which live as long as the process) out of the garbage collector's way, so that later collections
    and the interpreter's exit do not walk them again (the exit alone takes about a second otherwise)."""
    gc.freeze()
