"""The lines a run prints: a closed or full output never turns finished work into a failure.

After the verification the folder is complete; what is left is telling the user. `cookiecutter ... | head -1`,
`| true`, `>/dev/full` or a terminal that went away make printing fail (BrokenPipeError, ENOSPC), and an exception
from the hook would make cookiecutter delete the verified folder. `say` swallows that: the failed stream is pointed
at /dev/null (so later writes and the interpreter's final flush succeed too), and one line goes to stderr if it
still can.
"""

from __future__ import annotations

import os
import sys


def say(line: str, error: bool = False) -> None:
    """Print `line` to stdout (or stderr); an output that cannot be written is silenced, never raised."""
    stream = sys.stderr if error else sys.stdout
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):  # BrokenPipeError, ENOSPC, EIO; ValueError: the stream was closed
        _silence(stream)
        if not error:
            say(
                "timm-hub-template: standard output could not be written; the run went on (its folder is complete)",
                error=True,
            )


def _silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
