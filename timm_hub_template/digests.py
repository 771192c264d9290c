"""SHA-256 digests of files for the model card, computed on background threads so that they cost no wall time.

Hashing a 1.2 GB checkpoint takes about as long as writing it. hashlib releases the GIL while it hashes, so a
checkpoint named in the answers is hashed while the main thread imports timm and builds the model (`start`), and
the files the export writes are hashed while they are written (`HashingWriter`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    with Path(path).open("rb", buffering=0) as file:
        return _sha256_of(file)


def _sha256_of(file: BinaryIO) -> str:
    """The SHA-256 of what is left to read of `file`, read into one buffer (no allocation per block)."""
    digest, buffer = hashlib.sha256(), memoryview(bytearray(_BLOCK))
    while count := file.readinto(buffer):
        digest.update(buffer[:count])
    return digest.hexdigest()


def _on_daemon_thread(function: Callable[[], str]) -> Future:
    """`function()` on a daemon thread: an interrupted run exits without waiting for it."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(function())
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=run, name="sha256", daemon=True).start()
    return future


# A version of a file: device, inode, size and modification time. A file replaced by another one (a training run's
# `last.pth.tar`, written to a temporary file and renamed over) or rewritten is another version.
Identity = tuple[int, int, int, int]


class FileChanged(OSError):
    """The file is no longer the version the run read."""


def identity(status: os.stat_result) -> Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _hash_version(path: Path) -> tuple[str, Identity]:
    """The SHA-256 of the file at `path` and the version it is of (read from the open file, so the two match)."""
    with Path(path).open("rb", buffering=0) as file:
        version = identity(os.fstat(file.fileno()))
        digest = _sha256_of(file)
        if identity(os.fstat(file.fileno())) != version:
            raise FileChanged(f"{path} changed while it was hashed")
    return digest, version


# The hashes started in this run, by the version of the file they hash (cleared when a run begins and ends).
_started: dict[Identity, Future] = {}
_started_lock = threading.Lock()


def start(path: Path) -> Future:
    """Start hashing `path` (once per version of the file); the future gives (hex digest, version hashed)."""
    path = Path(path).resolve()
    version = identity(path.stat())
    with _started_lock:
        if version not in _started:
            _started[version] = _on_daemon_thread(lambda: _hash_version(path))
        return _started[version]


def sha256(path: Path, version: Identity | None = None) -> str:
    """The hex SHA-256 of `path`, from the background hash when one was started; with `version`, of that version of
    the file (the one the run read), or `FileChanged` when the file at `path` is another one now."""
    with _started_lock:
        started = _started.get(version) if version is not None else None
    digest, hashed = (started or start(path)).result()
    if version is not None and hashed != version:
        raise FileChanged(f"{Path(path).name} is not the file the run read any more: it changed during the run")
    return digest


def clear_cache() -> None:
    """Forget the hashes started so far: a later run hashes its files again."""
    with _started_lock:
        _started.clear()


class HashingWriter:
    """Writes byte buffers to a file and hashes them, in order, on a second thread while the writes proceed.

    The buffers must stay unchanged until `digest()` returns (they are the tensors being saved).
    """

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._sha256 = hashlib.sha256()
        self._hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")  # one worker: in order
        self._hashed: list[Future] = []

    def write(self, data: Any, temporary: bool = False) -> None:
        """Write `data` and queue it for hashing; a `temporary` buffer (a copy made for writing) is hashed before
        this returns, so that copies do not pile up while the hashing catches up."""
        self._hashed.append(self._hashing.submit(self._sha256.update, data))
        self._file.write(data)
        if temporary:
            self._hashed[-1].result()

    def digest(self) -> str:
        """The hex SHA-256 of everything written, once hashed."""
        self._hashing.shutdown(wait=True)
        for hashed in self._hashed:
            hashed.result()  # raises what hashing raised
        return self._sha256.hexdigest()

    def abandon(self) -> None:
        """Stop hashing (the write failed or was interrupted)."""
        self._hashing.shutdown(wait=False, cancel_futures=True)
