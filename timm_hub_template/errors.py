"""One-line error reports, shared by the hook, batch mode, the sweep and publishing."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an error's message, cut to `limit` characters, for one-line reports."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
