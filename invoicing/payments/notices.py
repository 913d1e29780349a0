"""What the driver is told when a payment goes through, fails or is refunded (via the outbox)."""

from __future__ import annotations

from customers.notifications.outbox import notify
from invoicing.payments.models import (
    INCOMING_KINDS,
    PaymentTransaction,
    TransactionKind,
    TransactionStatus,
)


def _event(entry: PaymentTransaction) -> str:
    if entry.kind in INCOMING_KINDS:
        return {
            TransactionStatus.SUCCEEDED: "payment_succeeded",
            TransactionStatus.FAILED: "payment_failed",
        }.get(entry.status, "")
    if entry.kind == TransactionKind.REFUND and entry.status == TransactionStatus.SUCCEEDED:
        return "refund_made"
    return ""


def queue_payment_notice(*, transaction_id: int) -> None:
    """Queue the driver's notice for the transaction's new status, once per status."""
    entry = PaymentTransaction.objects.select_related(
        "customer", "operator", "intended_document"
    ).get(pk=transaction_id)
    event = _event(entry)
    document = entry.intended_document
    # A payment staff record against an invoice names no customer: the invoice's is told.
    customer = entry.customer or (document.customer if document else None)
    if not event or customer is None:
        return
    notify(
        event=event,
        customer=customer,
        context={
            "customer_name": customer.display_name,
            "operator_name": entry.operator.name,
            "amount": entry.amount,
            "currency": entry.currency,
            "document_number": document.display_number if document else "",
        },
        email=document.recipient_email if document else "",
        language=document.language if document else "",
        dedupe_key=f"{event}:transaction:{entry.pk}",
    )
