"""SHA-256 digests of files for the model card, computed on background threads so that they cost no wall time.

Hashing a 1.2 GB checkpoint takes about as long as writing it. hashlib releases the GIL while it hashes, so a
checkpoint named in the answers is hashed while the main thread imports timm and builds the model (`start`), and
the files the export writes are hashed while they are written (`HashingWriter`).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(_BLOCK), b""):
            digest.update(block)
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


@functools.cache
def _started(path: Path, size: int, modified_ns: int) -> Future:
    return _on_daemon_thread(lambda: file_sha256(path))


def start(path: Path) -> Future:
    """Start hashing `path` (once per version of the file in this process); the future gives the hex digest."""
    path = Path(path).resolve()
    stat = path.stat()
    return _started(path, stat.st_size, stat.st_mtime_ns)


def sha256(path: Path) -> str:
    """The hex SHA-256 of `path`, from the background hash when one was started."""
    return start(path).result()


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
