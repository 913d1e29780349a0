"""What follows an issue or a correction once it is committed: the PDF and its delivery."""

from __future__ import annotations

from collections.abc import Sequence


def after_issue(document_ids: Sequence[int]) -> None:
    """Called on commit with the ids of newly issued documents."""


def after_recipient_correction(document_id: int) -> None:
    """Called on commit after an issued document's recipient details were corrected."""
