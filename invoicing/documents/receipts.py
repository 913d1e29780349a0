"""Who a document may name and what a receipt may leave out: a full invoice names its recipient
with a full address, a receipt up to 250 EUR gross may be simplified, and a receipt for a session
paid on the spot names no one and asks for nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from customers.models import Customer
from invoicing.documents.models import Document
from invoicing.setup.models import DocumentKind
from invoicing.tax.currencies import MissingExchangeRate, amount_in_eur

__all__ = [
    "FULL_INVOICE_FIELDS",
    "PAID_ON_THE_SPOT",
    "SIMPLIFIED_RECEIPT_LIMIT",
    "asks_for_payment",
    "is_paid_on_the_spot",
    "is_simplified",
    "missing_recipient_fields",
    "within_simplified_limit",
]

# Receipts up to this gross amount may be simplified (supplier, date, what, gross, VAT rate).
SIMPLIFIED_RECEIPT_LIMIT = Decimal("250.00")
# What a full invoice must name, whatever the operator's mandatory-field settings say.
FULL_INVOICE_FIELDS = ("name", "street", "postal_code", "city", "country")
# Walk-in drivers pay at the charge point: their receipt asks for no payment.
PAID_ON_THE_SPOT = (Customer.Kind.ANONYMOUS, Customer.Kind.AD_HOC)


def within_simplified_limit(*, gross: Decimal, currency: str, on_date: date) -> bool:
    """Whether a gross amount may go on a simplified receipt: up to 250 EUR, another currency
    converted at the rate on the date (no rate stored: not simplified)."""
    try:
        in_eur = amount_in_eur(abs(gross), currency, on_date)
    except MissingExchangeRate:
        return False
    return in_eur <= SIMPLIFIED_RECEIPT_LIMIT


def is_simplified(document: Document) -> bool:
    """A sales receipt up to 250 EUR gross carries the simplified content only."""
    return document.kind == DocumentKind.SALES_RECEIPT and within_simplified_limit(
        gross=document.total_gross, currency=document.currency, on_date=document.issue_date
    )


def is_paid_on_the_spot(document: Document) -> bool:
    """A receipt (or its cancellation) for a walk-in driver: paid at the charge point."""
    return document.customer.kind in PAID_ON_THE_SPOT


def missing_recipient_fields(customer: Customer) -> list[str]:
    """The customer's invoice-detail fields a full invoice needs and lacks (name means the
    company name for companies)."""
    missing = []
    for name in FULL_INVOICE_FIELDS:
        field = (
            "company_name" if name == "name" and customer.kind == Customer.Kind.COMPANY else name
        )
        if not str(getattr(customer, field) or "").strip():
            missing.append(field)
    return missing


def asks_for_payment(document: Document) -> bool:
    """Only an invoice (or a full receipt) with something to pay asks for payment: never a
    credit note, a simplified receipt, a 0.00 document or a session paid on the spot."""
    return (
        document.kind != DocumentKind.CREDIT_NOTE
        and not is_simplified(document)
        and document.total_gross != 0
        and not is_paid_on_the_spot(document)
    )
