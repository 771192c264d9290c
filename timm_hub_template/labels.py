"""The class names: the `labels` answer (a list, or a label file), a training checkpoint's class map, or ImageNet's.

A label file is one name per line (timm's `--class-map` format), a JSON list or an index-to-name object. The class
map a checkpoint names is data from whoever sent it: `class_map_labels` reads it only under the trust rules of
`untrusted_paths`, and only when it names every class of the head.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timm_hub_template.errors import AnswerError
from timm_hub_template.user_input import not_a_number, resolve_user_path

if TYPE_CHECKING:
    from timm_hub_template.introspection import ArchitectureSpec

# A label list that names a file: path separators or a file suffix (`classes.txt`, `labels.json`, `names.csv`).
_LOOKS_LIKE_PATH = re.compile(r"[/\\]|\.[A-Za-z][A-Za-z0-9]{0,4}$")
# The most a labels file may hold: 100,000 classes of long names.
MAX_LABELS_FILE_BYTES = 64 * 1024 * 1024


def read_labels(value: str, invocation_dir: Path) -> tuple[tuple[str, ...], str, Path | None]:
    """Class names from a comma-separated list, or from a file: one per line, a JSON list or index-to-name map.

    A value that names a file (a path separator or a file suffix, no comma) must be an existing regular file: a
    mistyped name or a pipe never becomes a class name."""
    if not value:
        return (), "", None
    path = resolve_user_path(value, invocation_dir)
    looks_like_path = "," not in value and _LOOKS_LIKE_PATH.search(value)
    if looks_like_path or path.is_file():
        if not path.exists():
            raise AnswerError(
                f"labels file {value!r} does not exist (looked for {path}); for class names, separate them with commas"
            )
        if not path.is_file():
            raise AnswerError(f"labels {value!r} is not a regular file ({path}): save the names to a file")
        if path.stat().st_size > MAX_LABELS_FILE_BYTES:
            raise AnswerError(f"labels file {path} is larger than {MAX_LABELS_FILE_BYTES >> 20} MiB")
        return _check_names(read_label_file(path), f"labels file {path.name}"), f"`{path.name}`", path.resolve()
    return _check_names(tuple(name.strip() for name in value.split(",")), "labels"), "the `labels` variable", None


def read_label_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark (Windows editors) is no part of a name
    except UnicodeDecodeError as problem:
        raise AnswerError(
            f"labels file {path.name} is not UTF-8 text ({problem.reason} at byte {problem.start})"
        ) from problem
    except OSError as problem:
        raise AnswerError(f"labels file {path.name} cannot be read: {problem.strerror}") from problem
    if path.suffix.lower() != ".json":
        # timm's --class-map format, as timm reads it (a text file's lines): split at \n, \r\n and \r only, not
        # at the other characters str.splitlines() takes (U+2028, a vertical tab), which stay in the name.
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return tuple(line.strip() for line in lines if line.strip())
    try:
        value = json.loads(text, parse_constant=not_a_number)
    except (json.JSONDecodeError, ValueError, RecursionError) as problem:
        raise AnswerError(f"labels file {path.name} is not valid JSON: {type(problem).__name__}") from problem
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(value)
    if isinstance(value, dict) and all(re.fullmatch(r"[0-9]+", str(index)) for index in value):
        names = {int(index): name for index, name in value.items()}
        if sorted(names) != list(range(len(names))) or not all(isinstance(name, str) for name in names.values()):
            raise AnswerError(f"labels file {path.name} must map every index from 0 to {len(names) - 1} to a name")
        return tuple(names[index] for index in range(len(names)))
    raise AnswerError(f"labels file {path.name} must hold a JSON list of names or an index-to-name object")


def _check_names(names: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not names or not all(names):
        raise AnswerError(f"{what}: every class needs a non-empty name")
    if not all(name.isprintable() for name in names):
        raise AnswerError(f"{what}: class names must be printable one-line text")
    counts = collections.Counter(names)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise AnswerError(f"{what}: class names must be unique; repeated: {', '.join(repeated[:5])}")
    return names


def class_map_labels(
    training: dict[str, Any], head_size: int | None, invocation_dir: Path
) -> tuple[tuple[str, ...], str, Path | None, str]:
    """The class names of the checkpoint's `--class-map`, found as timm's `load_class_map` finds it (the path as
    given, then under the run's `--data-dir`), when it is safe to read: (names, source, file, warning).

    The checkpoint is data from whoever sent it, and the names it points at are published: a file it names is read
    only when it lies in the folder the template was run from or in the run's data folder, outside hidden and
    system folders, is a `.txt` class map no larger than one of the head's size, and has one line per class of the
    head. Otherwise nothing is read, and the warning says which file and how to pass the names."""
    from timm_hub_template import untrusted_paths

    named = str(training["class_map"])
    found = untrusted_paths.find_class_map(
        named, training.get("data_dir") or training.get("data"), invocation_dir, head_size
    )
    if found.problem:
        return (
            (),
            "",
            None,
            (
                f"the checkpoint's class map {named!r} was not read ({found.problem}): the classes are unnamed; "
                "pass labels=<file> to name them"
            ),
        )
    try:
        names = _check_names(read_label_file(found.path), f"class map {found.path.name}")
    except AnswerError as problem:
        return (), "", None, f"the checkpoint's class map {named!r} was not used ({problem}); pass labels=<file>"
    if head_size is not None and len(names) != head_size:
        return (
            (),
            "",
            None,
            (
                f"the checkpoint's class map {named!r} has {len(names)} names for a head of {head_size} classes: not "
                "used; pass labels=<file> to name the classes"
            ),
        )
    return names, f"`{found.path.name}` (the training class map)", found.path, ""


def imagenet_labels(spec: ArchitectureSpec) -> tuple[str, ...]:
    """ImageNet's class descriptions when the head is the one of timm's ImageNet weights (timm's ImageNetInfo)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    if spec.num_classes != spec.pretrained_cfg.get("num_classes"):
        return ()
    subset = infer_imagenet_subset(spec.pretrained_cfg)
    return tuple(ImageNetInfo(subset).label_descriptions()) if subset else ()
