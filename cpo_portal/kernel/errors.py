"""The domain errors every app derives its own from: what a door shows when a rule refuses.

A service raises `InvalidInput` when what it was asked is wrong (the API answers 400 with the
messages per field) and `StateConflict` when the object's state does not allow it (the API
answers 409). The API maps them once (`cpo_portal/kernel/api/framework.py`), the admin shows
them as messages once (`cpo_portal/kernel/admin/errors.py`). The message is always a sentence
in the user's terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["DomainError", "InvalidInput", "StateConflict"]

DETAIL = "detail"


class DomainError(Exception):
    """A business rule refused the operation; the message says why in the user's terms."""


class InvalidInput(DomainError):
    """What was asked is wrong: bad or missing values. `errors` maps each field named (or
    "detail" for the request as a whole) to its messages."""

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
    ):
        if errors is None:
            errors = {field or DETAIL: [message]}
        elif not message:
            message = "; ".join(
                " ".join(messages) if name == DETAIL else f"{name}: {' '.join(messages)}"
                for name, messages in errors.items()
            )
        super().__init__(message)
        self.errors: dict[str, list[str]] = {name: list(texts) for name, texts in errors.items()}


class StateConflict(DomainError):
    """The object's current state does not allow the operation (e.g. crediting a credit note)."""
