"""The files a run writes into its folder: each is a new file in the folder, and what the run wrote is what it
publishes.

- **No write through a link.** A `-f` run into a folder whose `config.json` is a symbolic link to a file elsewhere,
  or whose `requirements.txt` is a hard link, would write into that other file. Before the run writes a path, a
  symbolic link there (to a file or a folder) or a file with other hard links is removed (`detach`): the run writes
  a new file in the folder, and the other file keeps its content.
- **Exactly the run's files are published.** `RunFiles` records each file the run wrote by path and content
  (SHA-256, taken when the run wrote it); the commit and the upload take those whose content is still what the run
  wrote. Any other file in the folder (the user's, one created while the run was verifying, one changed since) is
  named and left out.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from timm_hub_template.digests import file_sha256


@dataclasses.dataclass(frozen=True)
class Marker:
    name: str
    text: str


INCOMPLETE_MARKER = Marker(
    "GENERATION_INCOMPLETE.txt",
    "timm-hub-template did not finish this folder: its files are not verified. Delete it and generate again.\n",
)

# What the export writes at fixed paths (the weights' shard names depend on their size: `safetensors_stream`
# detaches each before writing it), and the marker of an unfinished folder.
RUN_FILES = (
    INCOMPLETE_MARKER.name,
    "config.json",
    "README.md",
    "requirements.txt",
    "model.safetensors.index.json",
    "onnx/model.onnx",
    "onnx/model.onnx.data",
    "onnx/preprocessor_config.json",
)


def replace_link(path: Path) -> None:
    """Remove `path` when writing to it would write elsewhere: a symbolic link, or a file with other hard links."""
    try:
        status = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(status.st_mode) or (stat.S_ISREG(status.st_mode) and status.st_nlink > 1):
        path.unlink()


def mark_incomplete(folder: Path) -> None:
    """Write the marker that says `folder` is not finished (a new file: a link at its path is removed first), before
    anything is generated into it; `complete` removes it once the folder is verified."""
    marker = folder / INCOMPLETE_MARKER.name
    replace_link(marker)
    marker.write_text(INCOMPLETE_MARKER.text)


def detach(folder: Path, names: Iterable[str]) -> None:
    """Before the run writes `names` (relative paths) into `folder`: neither they nor the folders on their way inside
    `folder` are links."""
    for name in names:
        parts = Path(name).parts
        for end in range(1, len(parts) + 1):
            replace_link(folder.joinpath(*parts[:end]))


Signature = tuple[int, int, int, int, int]


def _signature(status: os.stat_result) -> Signature:
    """What changes whenever a file's content does: its inode, size, modification and change times (the change time
    cannot be set back)."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """The files a run wrote into `folder`: relative POSIX path -> (SHA-256 of what it wrote, file signature then)."""

    folder: Path
    written: dict[str, tuple[str, Signature]]

    @classmethod
    def record(cls, folder: Path, names: Mapping[str, str | None]) -> RunFiles:
        """Record `names` (relative path -> the SHA-256 of what was written when the writer hashed it, else None) as
        they are now, right after the run wrote them; names that are not a regular file are left out."""
        written = {}
        for name, digest in names.items():
            path = folder / name
            try:
                status = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(status.st_mode):
                written[name] = (digest or file_sha256(path), _signature(status))
        return cls(folder, written)

    def published(self) -> tuple[list[str], tuple[str, ...]]:
        """(the run's files whose content is still what it wrote, every other file of the folder but `.git/`)."""
        ours = sorted(name for name, recorded in self.written.items() if self._unchanged(name, *recorded))
        kept = set(ours)
        return ours, tuple(name for name in folder_files(self.folder) if name not in kept)

    def digests(self, names: list[str]) -> dict[str, str]:
        """The SHA-256 of each of `names` (files `published` found unchanged) as the run wrote it."""
        return {name: self.written[name][0] for name in names}

    def _unchanged(self, name: str, digest: str, signature: Signature) -> bool:
        path = self.folder / name
        try:
            status = path.lstat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(status.st_mode):
            return False
        return _signature(status) == signature or file_sha256(path) == digest


def folder_files(folder: Path) -> list[str]:
    """Every file under `folder` but `.git/` (symbolic links listed, not followed), as sorted relative POSIX paths."""
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not (Path(root) == folder and name == ".git")]
        files += [Path(root, name).relative_to(folder).as_posix() for name in names]
        # os.walk lists a symbolic link to a folder among the folders, and does not enter it.
        files += [Path(root, name).relative_to(folder).as_posix() for name in folders if Path(root, name).is_symlink()]
    return sorted(files)
