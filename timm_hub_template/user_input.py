"""What the user typed, read strictly: paths from the folder they ran the template from, and JSON without NaN,
infinities or deeper nesting than any timm argument needs. The answers (`answers`) and the label files (`labels`)
read their text through these."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from timm_hub_template.errors import AnswerError

# Deeper nesting than any timm argument needs (block definitions are 3 levels) is refused before it is walked.
MAX_JSON_DEPTH = 16


def resolve_user_path(value: str, invocation_dir: Path) -> Path:
    """A path the user typed: `~` expanded, and relative to the folder they ran the template from."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else invocation_dir / path


def json_object(variable: str, text: str) -> dict[str, Any]:
    """The JSON object the variable `variable` holds ("" is `{}`), or `AnswerError` saying what is wrong."""
    text = text.strip() or "{}"
    example = "'{\"img_size\": 384}'"
    try:
        value = json.loads(text, parse_constant=not_a_number, parse_float=_finite_float)
    except (json.JSONDecodeError, ValueError) as problem:
        raise AnswerError(f"{variable} must be a JSON object like {example}: {problem}") from problem
    except RecursionError as problem:
        raise AnswerError(f"{variable} is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from problem
    if not isinstance(value, dict):
        raise AnswerError(f"{variable} must be a JSON object like {example}, not {text[:80]!r}")
    if _depth(value) > MAX_JSON_DEPTH:
        raise AnswerError(f"{variable} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def not_a_number(constant: str) -> Any:
    """`json.loads`'s `parse_constant`: NaN and the infinities are refused."""
    raise ValueError(f"{constant} is not a number JSON allows: use a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float: use a finite number")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending += [(child, depth + 1) for child in children]
    return deepest
