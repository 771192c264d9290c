"""The template's one-line errors, shared by the answers' checks, the hooks, batch mode, the sweep and publishing."""


class AnswerError(ValueError):
    """An answer the template cannot use, with one line saying what to do."""


class ExportError(Exception):
    """A failure while generating a repository, with a one-line cause the user can act on."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message, cut to `limit` characters, for one-line reports."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def printable(text: str) -> str:
    """`text` with control characters (terminal escapes, newlines) written as Python escapes: safe to print."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class Interrupted(KeyboardInterrupt):
    """SIGTERM during a run, raised like Ctrl-C's KeyboardInterrupt so the same clean-up runs (and, like it, not an
    `Exception`: the libraries' `except Exception` retries must not swallow it)."""
