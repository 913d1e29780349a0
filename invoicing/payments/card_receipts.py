"""A card-terminal capture matched to a session pays that session's receipt: the receipt is
issued once and the capture allocated to it; an undone match credits the receipt and frees the
capture for the session it is matched to next."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.services import create_customer
from invoicing.documents.card_receipts import (
    cancel_card_receipt,
    card_receipt_of,
    issue_card_invoice,
    issue_card_receipt,
)
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.documents.receipts import missing_recipient_fields
from invoicing.payments import ledger
from invoicing.payments.models import Payment, PaymentTransaction
from invoicing.setup.models import DocumentKind

# A receipt still in force: issued, or paid.
LIVE = (DocumentStatus.ISSUED, DocumentStatus.OVERDUE, DocumentStatus.PAID)

__all__ = ["receipt_to_invoice", "settle_card_payment", "undo_card_payment"]


def settle_card_payment(
    *, session_id: int, transaction_id: int, card_payment: Mapping[str, object]
) -> Document:
    """Issue the session's receipt for the capture (once) and allocate the capture to it, so
    the receipt shows paid; running it twice issues and allocates once."""
    with transaction.atomic():
        # A reassigned capture still paying the receipt of the session it left: undone first,
        # whichever of the two tasks runs first.
        moved_from = (
            Payment.objects.filter(transaction_id=transaction_id, document__status__in=LIVE)
            .exclude(document__billed_sessions__session_id=session_id)
            .filter(document__card_payment__transaction_id=transaction_id)
            .values_list("document__billed_sessions__session_id", flat=True)
            .distinct()
        )
        for other_session_id in list(moved_from):
            undo_card_payment(session_id=other_session_id, transaction_id=transaction_id)
        receipt = issue_card_receipt(
            session_id=session_id, transaction_id=transaction_id, card_payment=card_payment
        )
        entry = PaymentTransaction.objects.get(pk=transaction_id)
        receipt.refresh_from_db()
        if receipt.status in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE):
            share = min(ledger.unallocated(entry), receipt.outstanding)
            if share > 0:
                ledger.allocate(entry=entry, document=receipt, amount=share)
        receipt.refresh_from_db()
    return receipt


def undo_card_payment(*, session_id: int, transaction_id: int) -> Document | None:
    """The capture no longer pays this session: its receipt is credited and the capture's
    allocation released; returns the credit note (None when nothing was left to undo)."""
    with transaction.atomic():
        credit_note = cancel_card_receipt(
            session_id=session_id,
            transaction_id=transaction_id,
            reason="The card payment was matched to this session by mistake.",
        )
        if credit_note is not None:
            ledger.release(document=credit_note.credited_document)
    return credit_note


# What a business driver gives on the public receipt page for a full invoice.
COMPANY_FIELDS = ("company_name", "vat_id", "street", "postal_code", "city", "country", "email")


def receipt_to_invoice(*, session_id: int, details: dict[str, str]) -> Document:
    """A business that paid by card gets a full invoice instead of the receipt: the receipt is
    credited, the invoice issued to a new company customer with these details, and the capture
    moves from the receipt to the invoice (both numbered in their series)."""
    with transaction.atomic():
        receipt = card_receipt_of(session_id=session_id)
        if receipt is None or receipt.kind != DocumentKind.SALES_RECEIPT:
            raise InvoicingError(
                "This payment has no receipt to turn into an invoice (not issued yet, or an "
                "invoice already)."
            )
        values = {name: str(details.get(name) or "").strip() for name in COMPANY_FIELDS}
        customer = create_customer(
            operator=receipt.operator,
            values={**values, "kind": Customer.Kind.COMPANY, "requires_invoice": True},
        )
        missing = missing_recipient_fields(customer)
        if missing:
            raise InvalidInput(errors={name: ["An invoice needs this detail."] for name in missing})
        entries = list(PaymentTransaction.objects.filter(allocations__document=receipt).distinct())
        invoice = issue_card_invoice(receipt=receipt, customer=customer)
        receipt.refresh_from_db()
        ledger.release(document=receipt)
        for entry in entries:
            invoice.refresh_from_db()
            share = min(ledger.unallocated(entry), invoice.outstanding)
            if share > 0:
                ledger.allocate(entry=entry, document=invoice, amount=share)
        invoice.refresh_from_db()
    return invoice
