"""Strict readers for JSON values: exact Decimals and aware UTC datetimes, never floats."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sessions.pricing.errors import PricingError

__all__ = ["read_datetime", "read_int", "read_number", "utc_datetime"]


def read_number(
    value: object, path: str, error: type[PricingError], *, minimum: Decimal | None = None
) -> Decimal:
    """Read a JSON number as an exact Decimal; strings and booleans are not numbers in OCPI."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise error(f"{path}: must be a number, got {_describe(value)}")
    if isinstance(value, float):
        # repr() is the shortest round-tripping text: 0.1 stays 0.1, not 0.1000000000000000055.
        value = Decimal(repr(value))
    number = Decimal(value)
    if not number.is_finite():
        raise error(f"{path}: must be a finite number, got {value}")
    if minimum is not None and number < minimum:
        raise error(f"{path}: must be at least {minimum}, got {number}")
    return number


def read_int(value: object, path: str, error: type[PricingError], what: str) -> int:
    """Read a non-negative JSON integer (an integral Decimal such as 60.0 is accepted)."""
    message = f"{path}: must be a non-negative integer{what}, got {_describe(value)}"
    if isinstance(value, bool):
        raise error(message)
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal | float):
        try:
            decimal = Decimal(repr(value)) if isinstance(value, float) else value
            if not decimal.is_finite() or decimal != decimal.to_integral_value():
                raise error(message)
            number = int(decimal)
        except InvalidOperation as exc:
            raise error(message) from exc
    else:
        raise error(message)
    if number < 0:
        raise error(message)
    return number


def read_datetime(value: object, path: str, error: type[PricingError]) -> datetime:
    """Read an RFC 3339 timestamp as an aware UTC datetime; OCPI reads no offset as UTC."""
    if not isinstance(value, str):
        raise error(f"{path}: must be an RFC 3339 timestamp string, got {_describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise error(
            f"{path}: {value!r} is not an RFC 3339 timestamp such as 2024-03-01T08:30:00Z"
        ) from exc
    if parsed.tzinfo is None:
        # OCPI 2.2.1, section 16.2: a timestamp without a designator is UTC.
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def utc_datetime(value: object, path: str, error: type[PricingError]) -> datetime:
    """Check that a Python datetime is time-zone aware and return it in UTC."""
    if not isinstance(value, datetime):
        raise error(f"{path}: must be a datetime, got {_describe(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise error(f"{path}: must be a time-zone-aware datetime, got the naive {value}")
    return value.astimezone(UTC)


def _describe(value: object) -> str:
    """Name a JSON value's kind for an error message without dumping large structures."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, int | float | Decimal):
        return f"{value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
