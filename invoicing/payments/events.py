"""What integrators' webhooks say about a payment (registered with the kernel's outbox)."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.integrations.models import WebhookEventType
from cpo_portal.kernel.integrations.webhooks import instant, money_text, register_payloads
from invoicing.payments.models import Payment, PaymentTransaction


def payment_payloads(event: str, ids: Sequence[int], operator_id: int) -> dict[int, dict]:
    """The operator's transactions among `ids` as a `payment.*` event shows them."""
    entries = PaymentTransaction.objects.filter(pk__in=ids, operator_id=operator_id)
    found = {entry.pk: transaction_data(entry) for entry in entries}
    allocations = Payment.objects.filter(transaction_id__in=list(found)).values_list(
        "transaction_id", "document_id", "amount"
    )
    for transaction_id, document_id, amount in allocations:
        found[transaction_id]["allocations"].append(
            {"document_id": document_id, "amount": money_text(amount)}
        )
    return found


def transaction_data(entry: PaymentTransaction) -> dict:
    return {
        "id": entry.pk,
        "provider": entry.provider,
        "provider_reference": entry.provider_reference,
        "kind": entry.kind,
        "status": entry.status,
        "amount": money_text(entry.amount),
        "currency": entry.currency,
        "customer_id": entry.customer_id,
        "original_id": entry.parent_id,
        "document_id": entry.intended_document_id,
        "value_date": entry.value_date.isoformat(),
        "occurred_at": instant(entry.occurred_at),
        "failure_reason": entry.failure_reason,
        "allocations": [],
    }


def register() -> None:
    payment_events = [e for e in WebhookEventType.values if e.startswith("payment.")]
    register_payloads(events=payment_events, reader=payment_payloads)
