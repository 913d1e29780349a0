"""Refunds: money given back through the provider that received it, never more than it
received, and for a credit note at most what the credited invoice had been paid."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum

from cpo_portal.kernel.errors import StateConflict
from cpo_portal.kernel.money import ZERO, round_money
from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import (
    INCOMING_KINDS,
    Payment,
    PaymentTransaction,
    TransactionStatus,
)
from invoicing.payments.providers import provider, registered
from invoicing.setup.models import DocumentKind


def refund(
    *,
    payment: PaymentTransaction,
    amount: Decimal,
    credit_note: Document | None = None,
    requested_by=None,
) -> PaymentTransaction:
    """Give back part or all of a payment through its own provider."""
    amount = round_money(Decimal(amount), payment.currency)
    ledger.refund_room(payment, amount)
    if payment.provider not in {known.key for known in registered()}:
        raise StateConflict(
            f"No payment provider “{payment.provider}” is configured to refund this payment."
        )
    handler = provider(payment.provider)
    if not handler.refunds:
        # The payment is fine; where it was made is what refuses (409 in the API).
        raise StateConflict(f"{handler.name} payments cannot be refunded here.")
    return handler.refund(
        payment=payment, amount=amount, credit_note=credit_note, requested_by=requested_by
    )


def refund_credit_note(*, credit_note: Document, requested_by=None) -> list[PaymentTransaction]:
    """Pay a credit note out to the customer from the payments of the invoice it credits
    (newest payment first), up to what the note still owes and what was paid."""
    if credit_note.kind != DocumentKind.CREDIT_NOTE or credit_note.credited_document_id is None:
        raise InvoicingError("Only a credit note is refunded.", field="document")
    due = -credit_note.outstanding
    if due <= 0:
        raise InvoicingError(f"{credit_note} is already refunded.", field="document")
    paid_by = (
        Payment.objects.filter(
            document_id=credit_note.credited_document_id,
            transaction__kind__in=INCOMING_KINDS,
            transaction__status=TransactionStatus.SUCCEEDED,
        )
        .values("transaction_id")
        .annotate(total=Sum("amount"))
        .order_by("-transaction_id")
    )
    refunds = []
    for row in paid_by:
        payment = PaymentTransaction.objects.get(pk=row["transaction_id"])
        share = min(due, row["total"], payment.amount - ledger.refunded_from(payment))
        if share <= ZERO:
            continue
        refunds.append(
            refund(
                payment=payment, amount=share, credit_note=credit_note, requested_by=requested_by
            )
        )
        due -= share
        if due <= 0:
            break
    if not refunds:
        raise InvoicingError(
            f"Nothing was paid on {credit_note.credited_document}; there is nothing to refund.",
            field="document",
        )
    return refunds
