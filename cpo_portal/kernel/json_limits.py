"""What no JSON body may hold, whatever the endpoint: the API parser and ingest refuse it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

#: Nesting of any JSON body (an OCPI CDR with its tariff is 7 levels deep).
MAX_JSON_DEPTH = 32
#: Any number in a JSON body of the API (ids, amounts, volumes), in absolute value.
MAX_JSON_NUMBER = Decimal(10) ** 15


def json_problem(data: object, *, path: str = "") -> tuple[str, str] | None:
    """The first part of parsed JSON that no endpoint accepts, as (path, message), or None.

    Refused: nesting deeper than MAX_JSON_DEPTH, numbers beyond MAX_JSON_NUMBER (1e400 parses
    as a finite Decimal), and strings with a lone UTF-16 surrogate ("\\ud800" parses, but is not
    text: it cannot be stored or written as UTF-8). Iterative, so depth never costs recursion.
    """
    stack: list[tuple[object, str, int]] = [(data, path, 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return where, "Must be text: it holds a lone UTF-16 surrogate (\\ud800-\\udfff)."
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | Decimal | float):
            if isinstance(value, Decimal | float) and not Decimal(value).is_finite():
                return where, "Must be a finite number."
            if abs(value) >= MAX_JSON_NUMBER:
                return where, f"Must be a number below 10^15 in absolute value (limit {_E15})."
        elif isinstance(value, Mapping | list):
            if depth >= MAX_JSON_DEPTH:
                shown = where if len(where) <= 60 else f"{where[:60]}…"
                return shown, f"JSON nested deeper than {MAX_JSON_DEPTH} levels (limit)."
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and _has_surrogate(key):
                    return where, "A key holds a lone UTF-16 surrogate (\\ud800-\\udfff)."
                child = f"{where}[{key}]" if isinstance(key, int) else _join(where, key)
                stack.append((item, child, depth + 1))
    return None


_E15 = "1000000000000000"


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
