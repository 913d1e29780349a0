"""What integrators' webhooks say about a document (registered with the kernel's outbox)."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.integrations.models import WebhookEventType
from cpo_portal.kernel.integrations.webhooks import money_text, register_payloads
from invoicing.documents.models import Document


def document_payloads(event: str, ids: Sequence[int], operator_id: int) -> dict[int, dict]:
    """The operator's documents among `ids` as an `invoice.*` event shows them."""
    documents = Document.objects.filter(pk__in=ids, operator_id=operator_id)
    found = {d.pk: document_data(d) for d in documents}
    if event == WebhookEventType.INVOICE_CREDITED:
        notes = dict(
            Document.objects.filter(credited_document_id__in=list(found)).values_list(
                "credited_document_id", "id"
            )
        )
        for document_id, data in found.items():
            data["credit_note_id"] = notes.get(document_id)
    return found


def document_data(document: Document) -> dict:
    return {
        "id": document.pk,
        "number": document.display_number,
        "kind": document.kind,
        "status": document.status,
        "customer_id": document.customer_id,
        "issue_date": document.issue_date.isoformat(),
        "due_date": document.due_date.isoformat(),
        "currency": document.currency,
        "total_net": money_text(document.total_net),
        "total_vat": money_text(document.total_vat),
        "total_gross": money_text(document.total_gross),
        "amount_paid": money_text(document.amount_paid),
        "outstanding": money_text(document.outstanding),
        "paid_on": document.paid_on.isoformat() if document.paid_on else None,
        "credited_document_id": document.credited_document_id,
    }


def register() -> None:
    document_events = [e for e in WebhookEventType.values if e.startswith("invoice.")]
    register_payloads(events=document_events, reader=document_payloads)
