"""What the template needs to know of the cookiecutter run it is part of, in one place.

cookiecutter renders the hooks in its own process (that is where the template does its work), but it does not
hand a template everything a run needs:

- **The folder the user ran it from.** cookiecutter renders the hooks inside the template's folder (`work_in`),
  so a relative path the user typed (`weights=output/train/run/model_best.pth.tar`) must be resolved against
  the folder the run started in. It is read when cookiecutter renders the project folder's name
  (`render_and_create_dir`, before any `work_in`), in the CLI and in batch mode alike.
- **The project folder the hook runs in**, which the context does not hold (cruft does not set `_output_dir`): it
  is the `cwd` of cookiecutter's `hooks.run_script_with_context(script_path, cwd, context)`.
- **Whether `cruft update` is regenerating the template** to compute its diff (nothing may then be committed or
  pushed): cruft's `update` module is on the call stack.
- **Clean-up of an interrupted run.** cookiecutter removes the folder it created only when a hook script fails;
  an interrupt anywhere else (while the pre-generation hook is rendered, while files are rendered) leaves the
  folder behind. `RunGuard` removes a folder the run created if the process ends before the run finished, and
  turns SIGTERM into the same clean exit as Ctrl-C.
- **One run per folder.** Two runs into the same folder (`-f`) would interleave their files: the second waits for
  the first (an exclusive `flock` on the folder, held until the run ends).

When cookiecutter changes what this module reads, the run stops with one line naming the cookiecutter version.
"""

from __future__ import annotations

import atexit
import dataclasses
import fcntl
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from timm_hub_template.publish import FolderSnapshot


class CookiecutterChanged(RuntimeError):
    """cookiecutter no longer calls the template the way this module expects."""


def _unsupported(what: str) -> CookiecutterChanged:
    from importlib.metadata import version

    return CookiecutterChanged(
        f"timm-hub-template cannot find {what} in cookiecutter {version('cookiecutter')}: "
        "use a cookiecutter version that requirements.txt admits"
    )


def _frames():
    frame = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back


def hook_working_directory() -> Path:
    """The folder cookiecutter runs the hook being rendered in: the generated project."""
    for frame in _frames():
        if (
            frame.f_code.co_name == "run_script_with_context"
            and frame.f_globals.get("__name__") == "cookiecutter.hooks"
            and "cwd" in frame.f_locals
        ):
            return Path(frame.f_locals["cwd"]).resolve()
    raise _unsupported("the hook's working directory (hooks.run_script_with_context)")


def cruft_update() -> bool:
    """True while `cruft update` regenerates the template to compute its diff: the hook must then neither
    `git init` its scratch folder nor push it to the Hub. Rendering runs in cruft's process, so its call stack
    tells; the hook itself runs in a subprocess that cannot see it."""
    return any(frame.f_globals.get("__name__") == "cruft._commands.update" for frame in _frames())


@dataclasses.dataclass
class Run:
    """The run rendering a project folder: where the user started it, the folder, and whether the run made it."""

    invocation_dir: Path
    folder: Path
    created: bool  # the folder did not exist when cookiecutter was about to create it
    lock: int | None = None  # file descriptor holding the folder's flock
    finished: bool = False
    before: FolderSnapshot | None = None  # the files the folder held before this run wrote into it (`-f`)


_current: Run | None = None
_guard_installed = False


def begin(folder_name: str) -> Run:
    """Called while cookiecutter renders the project folder's name in `generate.render_and_create_dir`, just before
    it creates the folder: the working directory is still the user's, and whether the folder exists tells whether
    this run creates it."""
    global _current
    if _current is not None and not _current.finished:
        finish()  # an earlier run in this process (batch mode, tests calling cookiecutter() in-process)
    locals_of = {
        frame.f_code.co_name: frame.f_locals
        for frame in _frames()
        if frame.f_globals.get("__name__") == "cookiecutter.generate"
    }
    if "output_dir" not in locals_of.get("render_and_create_dir", {}):
        raise _unsupported("the output folder (generate.render_and_create_dir)")
    invocation_dir = Path.cwd()
    folder = (invocation_dir / str(locals_of["render_and_create_dir"]["output_dir"]) / folder_name).resolve()
    _current = Run(invocation_dir=invocation_dir, folder=folder, created=not folder.exists())
    # With hooks (the command line, cruft) they report the run, and cookiecutter cleans up only after a failed hook;
    # without (batch mode), the caller cleans up after itself.
    if locals_of.get("generate_files", {}).get("accept_hooks", True):
        _install_guard()
    return _current


def current() -> Run | None:
    return _current


def invocation_dir() -> Path:
    """The folder the user ran cookiecutter (or batch mode) from: relative paths in the answers start there."""
    return _current.invocation_dir if _current is not None else Path.cwd()


def lock_folder(folder: Path, announce=None) -> None:
    """Hold an exclusive lock on `folder` until this run ends; waits while another run holds it."""
    run = _current
    if run is None or run.lock is not None or run.folder != folder.resolve():
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if announce:
            announce(f"Waiting for another run that is generating into {folder} ...")
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    run.lock = descriptor
    if not run.created:
        run.before = FolderSnapshot.of(folder)


def release(run: Run) -> None:
    if run.lock is not None:
        os.close(run.lock)
        run.lock = None


def finish() -> None:
    """The run reached a reported end (success, or a failure the hook reports, after which cookiecutter removes
    the folder it created): nothing is left for the guard to clean up."""
    if _current is not None:
        _current.finished = True
        release(_current)


def _install_guard() -> None:
    """At exit, remove a folder this run created and did not finish; SIGTERM exits as Ctrl-C does."""
    global _guard_installed
    if _guard_installed:
        return
    _guard_installed = True
    atexit.register(_clean_up_unfinished)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("terminated (SIGTERM)")  # cookiecutter's command line exits on it as on Ctrl-C


def _clean_up_unfinished() -> None:
    run = _current
    if run is None or run.finished:
        return
    run.finished = True
    # Before the lock, the folder is the empty one cookiecutter just made, or another run's (which holds the lock).
    if run.created and run.folder.is_dir() and (run.lock is not None or not any(run.folder.iterdir())):
        shutil.rmtree(run.folder, ignore_errors=True)
    release(run)
