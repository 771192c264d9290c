"""Git LFS objects of files whose SHA-256 the run already knows, stored without git-lfs hashing them again.

`git add` of a weights file runs git-lfs's clean filter: git pipes the file to git-lfs, which hashes it and writes
its object (`.git/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>`) and gives git the pointer file to commit. git-lfs as the
distributions ship it (3.3, Go 1.19) hashes at about 200 MB/s, and the pipe doubles the work: 9 s for a 1.2 GB ViT-L
on 2 cores, half of timm's whole export. The run hashed each file while it wrote it, so `known_objects` stores each
object itself (the kernel's copy, hashed: it must give the recorded SHA-256) and has git stage the pointer
git-lfs would write (its spec: https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md) through a clean filter
that prints it, set for those files only in `.git/info/attributes` (which takes precedence over .gitattributes) for
that one `git add`. git records the files as it does after a clean filter: `git status` finds them unchanged, and
git-lfs (`git lfs fsck`, `git lfs push`) finds each object under its name.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from timm_hub_template import digests

POINTER_VERSION = "https://git-lfs.github.com/spec/v1"
FILTER = "timm-hub-template-known-lfs-object"
# The names the run writes (model.safetensors, its shards, onnx/model.onnx): plain, so a gitattributes pattern
# of the name matches that one file.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


class ObjectChanged(OSError):
    """The file's content is no longer the one the run recorded."""


def pointer(oid: str, size: int) -> str:
    """The pointer file git-lfs commits in place of a file (no extensions: the spec's canonical form)."""
    return f"version {POINTER_VERSION}\noid sha256:{oid}\nsize {size}\n"


def lfs_tracked(project_dir: Path, names: list[str]) -> list[str]:
    """The files of `names` that .gitattributes sends through git-lfs (`filter=lfs`), as git reads the attributes."""
    if not names:
        return []
    result = subprocess.run(
        ["git", "check-attr", "-z", "filter", "--", *names],
        cwd=project_dir,
        capture_output=True,
        check=True,
        env=dict(os.environ, GIT_LITERAL_PATHSPECS="1"),
    )
    fields = result.stdout.decode().split("\0")
    return [fields[index] for index in range(0, len(fields) - 2, 3) if fields[index + 2] == "lfs"]


def store_object(project_dir: Path, name: str, oid: str) -> int:
    """Copy `name` into the repository's LFS object store as object `oid`; returns its size. The copy is the
    kernel's (no pass through Python), then hashed: `ObjectChanged` (and nothing stored) when it is not `oid`."""
    target = project_dir / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{oid}.", delete=False) as partial:
        pass
    try:
        shutil.copyfile(project_dir / name, partial.name)
        if digests.file_sha256(Path(partial.name)) != oid:
            raise ObjectChanged(f"{name} changed since this run wrote it")
        os.replace(partial.name, target)
    except BaseException:
        Path(partial.name).unlink(missing_ok=True)
        raise
    return target.stat().st_size


@contextlib.contextmanager
def known_objects(project_dir: Path, digests: Mapping[str, str]) -> Iterator[list[str]]:
    """For the block's `git add`: each file of `digests` (relative path -> SHA-256; plain names, `PLAIN_NAME`) is
    stored in the LFS object store and staged as its pointer by a clean filter that prints it. Yields git's `-c`
    options for that filter. The repository's own `.git/info/attributes` is as it was after the block."""
    if any(not PLAIN_NAME.fullmatch(name) for name in digests):
        raise ValueError(f"not plain file names: {sorted(name for name in digests if not PLAIN_NAME.fullmatch(name))}")
    attributes = project_dir / ".git" / "info" / "attributes"
    original = attributes.read_bytes() if attributes.exists() else None
    with tempfile.TemporaryDirectory(prefix="timm-hub-template-lfs-") as pointers:
        lines = []
        for name, oid in digests.items():
            size = store_object(project_dir, name, oid)
            path = Path(pointers, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(pointer(oid, size))
            lines.append(f"/{name} filter={FILTER}\n")
        attributes.parent.mkdir(parents=True, exist_ok=True)
        attributes.write_bytes((original or b"") + "".join(lines).encode())
        try:
            # git quotes %f for the shell; the pointer has the file's relative path in the temporary folder.
            yield [
                "-c",
                f"filter.{FILTER}.clean=cat {shlex.quote(pointers)}/%f",
                "-c",
                f"filter.{FILTER}.required=true",
            ]
        finally:
            if original is None:
                attributes.unlink(missing_ok=True)
            else:
                attributes.write_bytes(original)
