"""Paths that come from a checkpoint, not from the user: which of them the template may read.

A training checkpoint's `args` are data from whoever sent the file. `args.class_map` names a file whose lines
become the published class names, so a crafted checkpoint could otherwise copy any readable file (a Hub token,
`/etc/passwd`) into `config.json`, the card and the push. A file a checkpoint names is read only when it looks
like what `train.py` would have used, found the way timm's `load_class_map` finds it (the path as given, then
under the run's `--data-dir`), and only when:

- the path was typed into a shell (no `~`: the shell expands it before `train.py` sees it);
- it lies inside the folder the template was run from, or inside the run's data folder (which may not be your
  home folder or a folder that holds it, such as `/`);
- no folder on its real path (symbolic links followed) is hidden (`~/.cache`, `~/.ssh`) or a system folder;
- it is a regular `.txt` file (timm's other format, `.pkl`, is a pickle) of at most `MAX_BYTES_PER_CLASS` bytes
  per class of the head.

The caller also requires one name per class of the head.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

# Folders whose files are the system's, not a training run's.
SYSTEM_FOLDERS = tuple(
    Path(folder)
    for folder in ("/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var", "/usr", "/bin", "/sbin", "/lib", "/lib64")
)
# A class name is a short line (ImageNet's longest description is under 120 characters).
MAX_BYTES_PER_CLASS = 1024


@dataclasses.dataclass(frozen=True)
class Found:
    path: Path | None = None
    problem: str = ""  # why the file is not read ("" when `path` may be read)


def find_class_map(named: str, data_dir: object, invocation_dir: Path, head_size: int | None) -> Found:
    """The class map `train.py` loaded for `--class-map named --data-dir data_dir`, if it may be read."""
    data = str(data_dir) if isinstance(data_dir, str) and data_dir else ""
    if named.startswith("~") or data.startswith("~"):
        return Found(problem="a '~' path, which a shell would have expanded")
    data_root = _resolve(Path(data), invocation_dir) if data else None
    if data_root is not None and Path.home().resolve().is_relative_to(data_root.resolve()):
        return Found(problem=f"the run's data folder {data_root} is your home folder or holds it")
    candidates = [_resolve(Path(named), invocation_dir)]
    if data_root is not None and not Path(named).is_absolute():
        candidates.append(data_root / named)
    path = next((candidate for candidate in candidates if candidate.exists()), None)
    if path is None:
        where = f" or under the run's data folder {data_root}" if data_root else ""
        return Found(problem=f"no such file in {invocation_dir}{where}")
    real = path.resolve()
    roots = [invocation_dir.resolve()] + ([data_root.resolve()] if data_root is not None else [])
    inside = [root for root in roots if real.is_relative_to(root)]
    if not inside:
        return Found(problem=f"{real} is outside the folder the template runs in and the run's data folder")
    for root in [*inside, real]:
        problem = _private_folder(root)
        if problem:
            return Found(problem=problem)
    if not real.is_file():
        return Found(problem=f"{real} is not a regular file")
    if real.suffix.lower() != ".txt":
        return Found(problem=f"{real.name} is not a .txt class map (other formats are not read)")
    limit = MAX_BYTES_PER_CLASS * max(head_size or 1, 1)
    if real.stat().st_size > limit:
        return Found(problem=f"{real.name} is larger than a class map of {head_size or 1} classes can be")
    return Found(path=real)


def _resolve(path: Path, invocation_dir: Path) -> Path:
    """A path relative to the folder the template runs in, never `~` expanded (`user_input.resolve_user_path` is
    for the paths the user typed)."""
    return path if path.is_absolute() else invocation_dir / path


def _private_folder(path: Path) -> str:
    """Why `path` (resolved) is in a hidden or system folder, or ""."""
    hidden = [part for part in path.parts if part.startswith(".") and part not in (".", "..")]
    if hidden:
        return f"{path} is in a hidden folder ({hidden[0]})"
    system = [folder for folder in SYSTEM_FOLDERS if path == folder or path.is_relative_to(folder)]
    if system:
        return f"{path} is in the system folder {system[0]}"
    return ""
