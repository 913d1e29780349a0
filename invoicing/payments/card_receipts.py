"""A card-terminal capture matched to a session pays that session's receipt: the receipt is
issued once and the capture allocated to it; an undone match credits the receipt and frees the
capture for the session it is matched to next."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction

from invoicing.documents.card_receipts import cancel_card_receipt, issue_card_receipt
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import Payment, PaymentTransaction

# A receipt still in force: issued, or paid.
LIVE = (DocumentStatus.ISSUED, DocumentStatus.OVERDUE, DocumentStatus.PAID)

__all__ = ["settle_card_payment", "undo_card_payment"]


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
