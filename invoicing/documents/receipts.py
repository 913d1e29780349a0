"""Which receipts may be simplified: the documents-layer rule the output and issuing follow."""

from __future__ import annotations

from decimal import Decimal

from invoicing.documents.models import Document
from invoicing.setup.models import DocumentKind

__all__ = ["SIMPLIFIED_RECEIPT_CURRENCY", "SIMPLIFIED_RECEIPT_LIMIT", "is_simplified"]

# Receipts up to this gross amount may be simplified (supplier, date, what, gross, VAT rate).
SIMPLIFIED_RECEIPT_LIMIT = Decimal("250.00")
SIMPLIFIED_RECEIPT_CURRENCY = "EUR"


def is_simplified(document: Document) -> bool:
    """A sales receipt up to 250 EUR gross carries the simplified content only."""
    return (
        document.kind == DocumentKind.SALES_RECEIPT
        and document.currency == SIMPLIFIED_RECEIPT_CURRENCY
        and abs(document.total_gross) <= SIMPLIFIED_RECEIPT_LIMIT
    )
