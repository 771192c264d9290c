"""The Jinja extension cookiecutter loads (`_extensions` in cookiecutter.json names `timm_hub_template_checkout`, which
imports this package from the template's own folder): names and introspection.

Filters:
- `pyrepr`: Python's own quoting for any value rendered into source (never paste raw strings into code);
- `pyliteral`: the same, with lists as tuples, for default argument values;
- `module_name`, `class_prefix`, `repo_name`: derived defaults;
- `answers`: the typed `Answers` of the variables (parsed once per run; imports timm on first use only);
- `prepare_generation` (acts: the pre-generation hook's lock, check and marker) returns the one line the hook
  reports ("" when the answers parse), and `answer_warnings` the lines it prints as warnings;
- `import_block`: the sorted import statements of a generated modeling file;
- `config_args_doc`: the `Args:` section of the config class's docstring (`field_docs`).

`complete_generation` (acts) runs the post-generation work while cookiecutter renders that hook. Loading the
extension with each Jinja environment cookiecutter makes tells `cookiecutter_run` where the run is
(`environment_made`: the run begins as cookiecutter starts rendering the project folder).

Loading the extension also keeps cookiecutter's traceback out of a refused run: the hook has said what is wrong in
one line, and cookiecutter still reports "Hook script failed".
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

from timm_hub_template import cookiecutter_run, names
from timm_hub_template.errors import printable

STANDARD_LIBRARY = {"functools", "math", "typing", "collections", "dataclasses", "enum"}


def pyrepr(value: Any) -> str:
    """`repr` for Python source: quotes strings safely, keeps tuples, None, True and non-ASCII text."""
    return repr(value)


def pyliteral(value: Any) -> str:
    """`pyrepr` with lists written as tuples: immutable defaults, as timm writes them (JSON reads both as lists)."""
    return repr(_lists_to_tuples(value))


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_lists_to_tuples(item) for item in value)
    if isinstance(value, dict):
        return {key: _lists_to_tuples(item) for key, item in value.items()}
    return value


def answers(cookiecutter: dict[str, Any]):
    """The typed answers of the template's variables (checked by the pre-generation hook before files render)."""
    from timm_hub_template.answers import parse

    return parse(cookiecutter_run.public_context(cookiecutter), cookiecutter_run.invocation_dir())


def config_args_doc(spec: Any) -> str:
    from timm_hub_template.field_docs import args_section

    return args_section(spec)


def import_block(imports: tuple[tuple[str, str, str], ...], extra: list[str]) -> str:
    """Import statements, standard library first, then third-party, in isort's order.

    `imports` holds (module, name, alias) triples; each entry of `extra` is `"module"` (for `import module`)
    or `"module:name"`.
    """
    straight: set[str] = set()
    from_imports: dict[str, set[str]] = {}
    for module, name, alias in imports:
        from_imports.setdefault(module, set()).add(name if alias == name else f"{name} as {alias}")
    for entry in extra:
        module, _, name = entry.partition(":")
        if name:
            from_imports.setdefault(module, set()).add(name)
        else:
            straight.add(module)
    groups: tuple[list[str], list[str]] = ([], [])
    for module in sorted(straight):
        groups[module.split(".")[0] not in STANDARD_LIBRARY].append(f"import {module}")
    for module in sorted(from_imports):
        line = f"from {module} import {', '.join(sorted(from_imports[module], key=_isort_key))}"
        groups[module.split(".")[0] not in STANDARD_LIBRARY].append(line)
    return "\n\n".join("\n".join(group) for group in groups if group)


def _isort_key(name: str) -> tuple[int, str]:
    """isort's `order-by-type`: CONSTANTS, then Classes, then functions and modules."""
    if name.isupper() and len(name) > 1:
        return 0, name.lower()
    return (1 if name[:1].isupper() else 2), name.lower()


def head_pattern(module_name: str) -> str:
    """The state-dict key pattern of a classifier module, under timm's name or the model's: `head.fc` ->
    `^(?:timm_model\\.)?head\\.fc\\.`."""
    return f"^(?:timm_model\\.)?{re.escape(module_name)}\\."


def timm_pretrained_cfg(answers: Any) -> dict[str, Any]:
    """timm's pretrained config of the repository (`timm_config.pretrained_cfg`), for the configuration file."""
    from timm_hub_template.timm_config import pretrained_cfg

    return pretrained_cfg(answers)


def complete_generation(cookiecutter: dict[str, Any]) -> str:
    """Export, verify and publish the folder cookiecutter rendered, in cookiecutter's own process (torch, timm and
    transformers are imported once per run), then finish the run; returns the one line the post-generation hook
    reports ("" on success)."""
    from timm_hub_template.generate import freeze_long_lived_objects, hook_outcome

    try:
        run = cookiecutter_run.hook_run()
    except cookiecutter_run.CookiecutterChanged as problem:
        return str(problem)
    scratch = not cookiecutter_run.asked_to_publish()  # cruft update/diff: never committed or pushed
    try:
        context = cookiecutter_run.public_context(cookiecutter)
        return hook_outcome(context, run.folder, run.invocation_dir, run.rendered, scratch)
    finally:
        command_line = cookiecutter_run.command_line()
        run.finish()
        if command_line:
            # cookiecutter's process ends soon after the hook: whatever is frozen, garbage included, goes with it
            # (a Python program calling cookiecutter() goes on: its objects are left to its collector).
            freeze_long_lived_objects()


def image_mode(channels: int) -> str:
    """The PIL mode the image processor converts images to, for a model taking `channels` channels."""
    from timm_hub_template.data_config import IMAGE_MODES

    return IMAGE_MODES[channels]


def prepare_generation(cookiecutter: dict[str, Any]) -> str:
    """The pre-generation hook's work, while cookiecutter renders it: lock the project folder for this run (another
    run into it is waited for), check the answers, and, when they pass, prepare the folder (no link where the run
    writes) and mark it incomplete until the post-generation hook has verified it. Returns the problems with the
    variables as one line ("" when they parse): the run then ends, and cookiecutter removes the folder it created.
    `cookiecutter`: the context as cookiecutter holds it (`__` keys and all: the names of the files it renders use
    them)."""
    from timm_hub_template.answers import error

    try:
        run = cookiecutter_run.hook_run()
    except cookiecutter_run.CookiecutterChanged as changed:
        return str(changed)
    run.lock_folder(announce=lambda line: print(line, file=sys.stderr, flush=True))
    problem = error(cookiecutter_run.public_context(cookiecutter), run.invocation_dir)
    if not problem:
        try:
            run.prepare(cookiecutter)
        except cookiecutter_run.CookiecutterChanged as changed:
            problem = str(changed)
    if problem:
        run.finish()  # cookiecutter removes the folder it created once the hook reports the problem
    return problem


def answer_warnings(context: dict[str, Any]) -> tuple[str, ...]:
    """What the answers decided on their own that the user should know (the pre-generation hook prints them)."""
    from timm_hub_template.answers import AnswerError, parse

    try:
        return parse(context, cookiecutter_run.invocation_dir()).warnings
    except AnswerError:
        return ()


def refused(problem: Exception | str) -> Exception:
    """The stop of a run whose answer is wrong, as soon as it is known, before anything is written: cookiecutter's
    own exception for a refused run, which its command line prints as one line (no traceback) and its Python API
    raises as it raises a failed hook's."""
    from cookiecutter.exceptions import FailedHookException

    return FailedHookException(f"Error: {printable(str(problem))}")


def checked_module_name(architecture: str) -> str:
    """The module name derived from the architecture, once timm knows the architecture (right after that question,
    with the names it may have meant): a wrong name never flows into the next defaults."""
    from timm_hub_template.answers import AnswerError, checked_architecture

    try:
        checked_architecture(architecture)
    except AnswerError as problem:
        raise refused(problem) from None
    return names.module_name(architecture)


def weights_kind(weights: str, architecture: str) -> str:
    """ "pretrained", "random" or "checkpoint", right after the weights question: timm has (and can fetch) pretrained
    weights for the architecture, or the checkpoint file exists; else the run stops there."""
    from timm_hub_template.answers import AnswerError
    from timm_hub_template.answers import weights_kind as kind

    try:
        return kind(str(weights), architecture.strip(), cookiecutter_run.invocation_dir())
    except AnswerError as problem:
        raise refused(problem) from None


class _WithoutHookTraceback(logging.Filter):
    """cookiecutter logs a failed hook with `logger.exception`; our hooks have printed the cause in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and "hook script didn't exit successfully" in record.getMessage():
            record.exc_info, record.exc_text = None, None
        return True


class TimmHubExtension(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # Loaded as cookiecutter starts asking: what is wrong before any answer is said before the first question.
        from timm_hub_template import dependencies

        absent = dependencies.missing()
        if absent:
            raise refused(dependencies.install_hint(absent))
        try:
            cookiecutter_run.environment_made()  # the given variables while asking; the run as rendering begins
        except (cookiecutter_run.UnknownVariables, cookiecutter_run.FolderRefused) as problem:
            raise refused(problem) from None
        except cookiecutter_run.CookiecutterChanged as problem:
            raise refused(problem) from None
        hooks_logger = logging.getLogger("cookiecutter.hooks")
        if not any(isinstance(f, _WithoutHookTraceback) for f in hooks_logger.filters):
            hooks_logger.addFilter(_WithoutHookTraceback())
        environment.filters.update(
            pyrepr=pyrepr,
            pyliteral=pyliteral,
            module_name=checked_module_name,
            weights_kind=weights_kind,
            class_prefix=names.class_prefix,
            repo_name=names.repo_name,
            answers=answers,
            complete_generation=complete_generation,
            image_mode=image_mode,
            import_block=import_block,
            config_args_doc=config_args_doc,
            head_pattern=head_pattern,
            timm_pretrained_cfg=timm_pretrained_cfg,
            public_context=cookiecutter_run.public_context,
            prepare_generation=prepare_generation,
            answer_warnings=answer_warnings,
        )
