"""What the template needs to know of the cookiecutter run it is part of, in one place.

Everything the template reads of cookiecutter itself (its context keys, its call signatures, its frames) is here;
the rest of the package asks this module. cookiecutter renders the hooks in its own process (that is where the
template does its work), but it does not hand a template everything a run needs:

- **The run.** cookiecutter makes a Jinja environment (loading the template's extension, which calls
  `environment_made`) as it starts rendering the project in `generate_files`, before it renders the folder's name
  (`{{cookiecutter.repo_name}}`) and creates it: the run begins there (`Run.begin`), and an unsafe folder name
  stops it with one line before any folder exists. The folder goes into the context's `_output_dir`, which
  `cookiecutter()` sets for the current run since 2.3 (2.1 and 2.2 kept the replayed run's under `--replay`: hence
  the floor in requirements.txt); cruft calls `generate_files` itself without it: then it is `generate_files`'
  `output_dir`. The hooks run in that folder (cookiecutter's `hooks.run_script_with_context(script_path,
  cwd=<project folder>, context)`), and their rendering enters the run through `hook_run()`; the
  post-generation hook's rendering finishes it.
- **The folder the user ran it from.** cookiecutter renders the hooks inside the template's folder (`work_in`),
  so a relative path the user typed (`weights=output/train/run/model_best.pth.tar`) must be resolved against
  the folder the run started in; no context key holds it. It is the working directory when the run begins (before
  any `work_in`), in the CLI, in cruft and in batch mode alike.
- **Whether the run was asked to publish**: only a run started by cookiecutter's command line or Python API
  (`cookiecutter.main.cookiecutter`) or by `cruft create` may commit and push. Every other caller that renders
  the template with its hooks (`cruft update` and `cruft diff` in scratch folders, anything else calling
  `generate_files`) publishes nothing. cruft's context (`_template`, `_commit`) is the same for all cruft commands,
  so the call stack tells.
- **The files cookiecutter renders** (their names, from the template folder it renders): before it renders them
  into an existing folder (`-f`), a symbolic or hard link at their path is removed, so nothing is written outside
  the folder.
- **Batch mode's rendering** (`context_for`, `render_without_hooks`): cookiecutter's `generate_context`,
  `prompt_for_config` and `generate_files(accept_hooks=False)`, with the context keys `cookiecutter()` adds.
- **Clean-up of an interrupted run.** cookiecutter removes the folder it created only when a hook script fails;
  an interrupt anywhere else (while the pre-generation hook is rendered, while files are rendered) leaves the
  folder behind. A guard installed when the run begins removes a folder the run created (the same folder: its
  device and inode, not only its path) if the process ends before the run finished, and turns SIGTERM into the
  same clean exit as Ctrl-C. Both are the run's own: when it ends (`finish`), the SIGTERM handler is restored, the
  exit guard unregistered, the lock released and the caches keyed on the answers and their files cleared, so a
  Python program calling `cookiecutter()` twice gets two independent runs.
- **One run per folder.** Two runs into the same folder (`-f`) would interleave their files: the second waits for
  the first (an exclusive `flock` on the folder, held until the run ends).

When cookiecutter changes what this module reads, the run stops with one line naming the cookiecutter version.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import difflib
import fcntl
import json
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timm_hub_template.errors import ExportError, Interrupted


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


def _caller(module: str, function: str, having: str = "") -> Any:
    """The frame of `module.function` on the call stack (the innermost; with `having`, one that holds that local
    variable), or None: what this module reads of cookiecutter's and cruft's own calls."""
    return next(
        (
            frame
            for frame in _frames()
            if frame.f_code.co_name == function
            and frame.f_globals.get("__name__") == module
            and (not having or having in frame.f_locals)
        ),
        None,
    )


class UnknownVariables(ValueError):
    """Variables given to a run that the template does not have (cookiecutter itself would ignore them)."""

    def __init__(self, unknown: list[str], template: Mapping[str, Any]) -> None:
        names = [key.removeprefix("__") for key in template if not key.startswith("_") or _is_unasked(key)]
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name.removeprefix("__"), names, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]}?)" if close else ""))
        super().__init__(f"the template has no variable {', '.join(hints)}: its variables are {', '.join(names)}")


def _is_unasked(key: str) -> bool:
    """A variable of cookiecutter.json that is not asked: cookiecutter's private form `__name` (not `__prompts__`)."""
    return key.startswith("__") and not key.endswith("__")


def public_context(cookiecutter: Mapping[str, Any]) -> dict[str, Any]:
    """The user's variables by their names (the not-asked `__dtype` as `dtype`; no `_extensions`, `__prompts__`
    ...), as the answers are parsed from them."""
    return {
        key.removeprefix("__"): value
        for key, value in cookiecutter.items()
        if not key.startswith("_") or _is_unasked(key)
    }


def as_template_keys(variables: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, Any]:
    """`variables` under cookiecutter.json's keys: a variable that is not asked is `__<name>` there, and may be given
    by its plain name (`dtype=bfloat16` sets `__dtype`); `UnknownVariables` names those the template lacks."""
    keys, unknown = {}, []
    for name, value in variables.items():
        if name in template:
            keys[name] = value
        elif f"__{name}" in template:
            keys[f"__{name}"] = value
        else:
            unknown.append(name)
    if unknown:
        raise UnknownVariables(unknown, template)
    return keys


def take_given_variables() -> None:
    """As cookiecutter starts asking (its Jinja environment loads the extension), apply the variables the user gave
    by their plain names to the not-asked `__` ones, and stop on a name the template does not have: cookiecutter
    ignores both silently. The user's variables are cookiecutter()'s `extra_context` (the command line's too) over
    its config file's `default_context`."""
    prompting, call = _caller("cookiecutter.prompt", "prompt_for_config"), _caller("cookiecutter.main", "cookiecutter")
    if prompting is None or call is None or not isinstance(prompting.f_locals.get("context"), dict):
        return  # not a cookiecutter() run that is about to ask (batch mode translates its own variables)
    prompting = prompting.f_locals["context"]
    config = call.f_locals.get("config_dict") or {}
    given = {**(config.get("default_context") or {}), **(call.f_locals.get("extra_context") or {})}
    template = prompting["cookiecutter"]
    for key, value in as_template_keys(given, template).items():
        if _is_unasked(key):
            template[key] = value


def asked_to_publish() -> bool:
    """True when the run was asked for by cookiecutter's command line or Python API (`cookiecutter.main.cookiecutter`,
    which the command line calls) or by `cruft create`: only such a run may `git init` its folder and push it. A
    positive rule: `cruft update` and `cruft diff` render the template with its hooks in scratch folders (through
    `generate_files`, as any other caller may), and those renders are never committed or pushed. Rendering runs in
    the caller's process, so its call stack tells; the hook itself runs in a subprocess that cannot see it."""
    return bool(_caller("cookiecutter.main", "cookiecutter") or _caller("cruft._commands.create", "create"))


def command_line() -> bool:
    """True when the run is part of cookiecutter's or cruft's command line, whose process ends after the run."""
    return any(frame.f_globals.get("__name__") in ("cookiecutter.cli", "cruft._cli") for frame in _frames())


def rendered_names(template_folder: Path, context: Mapping[str, Any]) -> tuple[str, ...]:
    """The relative paths of the files cookiecutter renders from `template_folder` (its file names are Jinja, like
    `modeling_{{cookiecutter.module_name}}.py`), with the run's variables."""
    from jinja2 import Environment

    environment = Environment(autoescape=False)
    names = []
    for root, _, files in os.walk(template_folder):
        for name in files:
            relative = Path(root, name).relative_to(template_folder)
            parts = [environment.from_string(part).render(cookiecutter=context) for part in relative.parts]
            names.append(Path(*parts).as_posix())
    return tuple(sorted(names))


def template_folder() -> Path:
    """The template folder cookiecutter is rendering (`{{cookiecutter.repo_name}}`), while it runs a hook: the
    hooks run in the template's repository folder (`run_hook_from_repo_dir` works in `repo_dir`), and
    `generate_files` holds the folder's name."""
    frame = _caller("cookiecutter.generate", "generate_files", having="unrendered_dir")
    if frame is not None and (Path.cwd() / str(frame.f_locals["unrendered_dir"])).is_dir():
        return Path.cwd() / str(frame.f_locals["unrendered_dir"])
    raise _unsupported("the template folder (generate.generate_files)")


def environment_made() -> None:
    """cookiecutter makes a Jinja environment, which loads the template's extension, while it asks the questions,
    once as it starts rendering the project (`generate_files`, before it renders and creates the project folder),
    and once for each hook it renders. Asking: the variables given by their plain names are taken. Starting to
    render: the run begins (`Run.begin`), or stops with one line before any folder exists."""
    if _caller("cookiecutter.hooks", "run_script_with_context"):
        return
    if _caller("cookiecutter.prompt", "prompt_for_config"):
        take_given_variables()
        return
    rendering = _caller("cookiecutter.generate", "generate_files", having="context")
    if rendering is not None:
        Run.begin(rendering.f_locals)


class FolderRefused(ValueError):
    """The project folder cannot be generated: its name is not a safe folder name, or the template's package is
    another checkout's."""


@dataclasses.dataclass
class Run:
    """One cookiecutter run rendering a project folder, from the moment cookiecutter starts rendering it
    (`begin`) to the end the post-generation hook reports (`finish`): where the user started it, the folder,
    whether the run made it, and what the run holds in the process (the folder's lock, the exit guard, the SIGTERM
    handler). The hooks' rendering enters it through `current()`; once finished, nothing of it is left in the
    process."""

    invocation_dir: Path
    folder: Path
    created: bool  # the folder did not exist when cookiecutter was about to create it
    lock: int | None = None  # file descriptor holding the folder's flock
    identity: tuple[int, int] | None = None  # the folder's device and inode, once the run holds its lock
    rendered: tuple[str, ...] = ()  # the files cookiecutter renders into the folder (relative POSIX paths)
    guarded: bool = False  # the exit guard is registered
    sigterm: Any = None  # the SIGTERM handler this run replaced (None: it installed none)
    finished: bool = False

    @classmethod
    def begin(cls, rendering: Mapping[str, Any]) -> Run | None:
        """cookiecutter's `generate_files` (its `rendering` locals) is about to render and create the project folder:
        refuse an unsafe folder name or another checkout's package (`FolderRefused`, before any folder exists),
        and begin the run. The working directory is still the user's. Without hooks (`--accept-hooks no`, batch
        mode) nothing checks, reports or finishes the run later: the answers are checked here (a bad answer is one
        line before any folder exists) and nothing is installed in the process."""
        from timm_hub_template.answers import error, repo_name_error

        global _current
        if _current is not None:
            _current.finish()  # an earlier run in this process that ended without its hooks (tests, programs)
        context = rendering["context"].get("cookiecutter", {})
        invocation_dir = Path.cwd()
        name_problem = repo_name_error(str(context.get("repo_name", "")))
        problem = _other_checkout(context)
        if not problem and name_problem:
            # Said with the other answers' problems, as the pre-generation hook would list them.
            problem = error(public_context(context), invocation_dir) or name_problem
        if problem:
            raise FolderRefused(problem)
        if _caller(__name__, "render_without_hooks"):
            return None  # batch mode has parsed the answers for this run, and cleans up after itself
        _clear_caches()  # what an earlier run read (a labels file since rewritten) is read again
        if not rendering.get("accept_hooks", True):
            problem = error(public_context(context), invocation_dir)
            if problem:
                raise FolderRefused(problem)
            return None
        folder = (invocation_dir / _output_dir(context) / str(context["repo_name"])).resolve()
        run = cls(invocation_dir=invocation_dir, folder=folder, created=not folder.exists())
        run._install_guard()  # the hooks report the run; cookiecutter cleans up only after a failed hook
        _current = run
        return run

    def lock_folder(self, announce=None) -> None:
        """Hold an exclusive lock on the folder until the run ends; waits while another run holds it."""
        if self.lock is not None:
            return
        descriptor = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if announce:
                announce(f"Waiting for another run that is generating into {self.folder} ...")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        self.lock = descriptor
        status = os.fstat(descriptor)
        self.identity = (status.st_dev, status.st_ino)

    def prepare(self, context: Mapping[str, Any]) -> None:
        """Once the answers are checked, before cookiecutter renders the files into the folder: the paths the run
        writes (cookiecutter's files, the marker, the export's files) hold no link to a file elsewhere, the names
        cookiecutter renders are kept for publishing (only the run's files are published), and the folder is
        marked incomplete until `generate.complete` has verified it."""
        from timm_hub_template import run_files

        self.rendered = rendered_names(template_folder(), context)
        run_files.detach(self.folder, run_files.RUN_FILES + self.rendered)
        run_files.mark_incomplete(self.folder)

    def finish(self) -> None:
        """The run reached a reported end (success, or a failure the hook reports, after which cookiecutter removes
        the folder it created): what it installed in the process (the SIGTERM handler, the exit guard, the lock,
        the caches keyed on its answers and files) is undone, and it is no longer the current run."""
        global _current
        self.finished = True
        self._release()
        self._remove_guard()
        _clear_caches()
        if _current is self:
            _current = None

    def _release(self) -> None:
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    def _install_guard(self) -> None:
        """At exit, remove the folder the run created if it did not finish; SIGTERM ends the run as Ctrl-C does,
        while the run lasts."""
        atexit.register(self._clean_up_unfinished)
        self.guarded = True
        self.sigterm = install_sigterm_handler()

    def _remove_guard(self) -> None:
        if self.guarded:
            atexit.unregister(self._clean_up_unfinished)
            self.guarded = False
        if self.sigterm is not None:
            restore_sigterm_handler(self.sigterm)
            self.sigterm = None

    def _clean_up_unfinished(self) -> None:
        if self.finished:
            return
        self.finished = True
        # Before the lock, the folder is the empty one cookiecutter just made, or another run's (which holds the
        # lock); after, it is the folder of the device and inode this run locked, not one made at the path since.
        if (
            self.created
            and self.folder.is_dir()
            and self._same_folder()
            and (self.lock is not None or not any(self.folder.iterdir()))
        ):
            shutil.rmtree(self.folder, ignore_errors=True)
        self._release()

    def _same_folder(self) -> bool:
        if self.identity is None:
            return True
        status = os.stat(self.folder)
        return (status.st_dev, status.st_ino) == self.identity


_current: Run | None = None


def current() -> Run | None:
    """The run cookiecutter is rendering the hooks of (None outside one)."""
    return _current


def hook_run() -> Run:
    """The current run, while cookiecutter renders one of its hooks (which run in the project folder)."""
    if _current is None:
        raise _unsupported("the project folder (generate_files made no environment before the hooks)")
    return _current


def invocation_dir() -> Path:
    """The folder the user ran cookiecutter (or batch mode) from: relative paths in the answers start there."""
    return _current.invocation_dir if _current is not None else Path.cwd()


def install_sigterm_handler() -> Any:
    """SIGTERM raises `Interrupted` (a KeyboardInterrupt) in the main thread, so a run stops through the clean-up
    Ctrl-C takes. Returns the handler it replaced, or None where it installed none (another thread; a handler the
    program set itself stays)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm_handler(previous: Any) -> None:
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is _terminate:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_interrupts():
    """`install_sigterm_handler` for the block (batch mode's generations)."""
    previous = install_sigterm_handler()
    try:
        yield
    finally:
        if previous is not None:
            restore_sigterm_handler(previous)


def _terminate(signum: int, frame: Any) -> None:
    raise Interrupted("terminated (SIGTERM)")


def _output_dir(cookiecutter: Mapping[str, Any]) -> str:
    """The folder the project folder goes into: the context's `_output_dir` (set by `cookiecutter()` and batch mode),
    else (cruft's own `generate_files` call) the `output_dir` cookiecutter renders the project into."""
    if cookiecutter.get("_output_dir"):
        return str(cookiecutter["_output_dir"])
    frame = _caller("cookiecutter.generate", "generate_files", having="output_dir")
    if frame is not None:
        return str(frame.f_locals["output_dir"])
    raise _unsupported("the output folder (generate.generate_files)")


TEMPLATE_DIR = Path(__file__).resolve().parent.parent  # the checkout this package belongs to, when it is one


def _other_checkout(cookiecutter: Mapping[str, Any]) -> str:
    """Empty when the template cookiecutter renders (the context's `_repo_dir`, which `cookiecutter()` and batch mode
    set) is the checkout this package is part of; else the line that stops the run: the package's code and the
    template's files would be of different versions. (`timm_hub_template_checkout` imports the package from the
    template's folder; a `python -m cookiecutter` started in another checkout finds that one's first.)"""
    repo_dir = cookiecutter.get("_repo_dir")
    if not repo_dir or Path(repo_dir).resolve() == TEMPLATE_DIR:
        return ""
    from timm_hub_template import __version__

    rendered = Path(repo_dir).resolve()
    init = rendered / "timm_hub_template" / "__init__.py"
    found = re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.MULTILINE) if init.is_file() else None
    return (
        f"cookiecutter renders the template in {rendered} (timm_hub_template {found.group(1) if found else '?'}) "
        f"with the timm_hub_template {__version__} of {TEMPLATE_DIR}: run cookiecutter in a new process, from a "
        "folder outside that checkout"
    )


def _clear_caches() -> None:
    """The caches keyed on the answers and on file paths: a later run reads its files again."""
    from timm_hub_template import answers, digests

    answers.clear_cache()
    digests.clear_cache()


@contextlib.contextmanager
def _extension_importable(template_dir: Path):
    """The template's folder on `sys.path` while cookiecutter's functions load its Jinja extension
    (`timm_hub_template_checkout`, which is in that folder only), as `cookiecutter()` puts it; restored after."""
    saved = list(sys.path)
    sys.path.append(str(template_dir))
    try:
        yield
    finally:
        sys.path[:] = saved


def context_for(template_dir: Path, extra_context: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """The context `cookiecutter --no-input <template_dir> key=value ... -o <output_dir>` would render with."""
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    template = json.loads((template_dir / "cookiecutter.json").read_text())
    try:
        extra_context = as_template_keys(extra_context, template)
    except UnknownVariables as problem:
        raise ExportError(str(problem)) from None
    context = generate_context(context_file=template_dir / "cookiecutter.json", extra_context=extra_context)
    with _extension_importable(template_dir):
        try:
            context["cookiecutter"] = prompt_for_config(context, no_input=True)
        except FailedHookException as refused:  # an answer refused as it was given (jinja_extension.refused)
            raise ExportError(str(refused).removeprefix("Error: ")) from None
    # The keys `cookiecutter()` adds (batch mode has no replay, clone or checkout).
    context["cookiecutter"].update(
        _template=str(template_dir), _output_dir=str(output_dir.resolve()), _repo_dir=str(template_dir)
    )
    return context


def render_without_hooks(
    template_dir: Path, context: dict[str, Any], output_dir: Path
) -> tuple[Path, tuple[str, ...]]:
    """cookiecutter's own rendering of the template's files, hooks left to the caller; returns the project folder
    and the files rendered into it (relative POSIX paths)."""
    from cookiecutter.generate import generate_files

    with _extension_importable(template_dir):
        folder = Path(
            generate_files(repo_dir=str(template_dir), context=context, output_dir=str(output_dir), accept_hooks=False)
        )
    # The folder cookiecutter rendered (as its find_template finds it: the one whose name is Jinja).
    [rendered_from] = [path for path in Path(template_dir).iterdir() if path.is_dir() and "{{" in path.name]
    return folder, rendered_names(rendered_from, context["cookiecutter"])
