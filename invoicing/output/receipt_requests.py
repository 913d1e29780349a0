"""Receipts e-mailed to the address a driver left on the public receipt page: sent once the
receipt's PDF exists, the address erased 30 days after it was left."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from customers.notifications.models import OutboundMessage
from customers.services import AD_HOC_EMAIL_RETENTION
from invoicing.documents.card_receipts import card_receipt_of
from invoicing.documents.models import Document
from invoicing.output import document_messages, pdf
from invoicing.output.models import EmailDelivery, ReceiptEmailRequest
from sessions.models import ChargingSession

__all__ = [
    "erase_expired_receipt_addresses",
    "has_waiting_requests",
    "request_receipt_email",
    "send_for_document",
    "send_requested_emails",
]


def request_receipt_email(*, session: ChargingSession, email: str) -> ReceiptEmailRequest:
    """Keep the address and send the receipt now if its PDF is ready (else when it is)."""
    with transaction.atomic():
        request = ReceiptEmailRequest.objects.create(session=session, email=email)
        send_requested_emails(session_id=session.pk)
    return request


def has_waiting_requests(document_id: int) -> bool:
    """Whether an address waits for this document's PDF (one indexed query per stored PDF)."""
    return ReceiptEmailRequest.objects.filter(
        session__billings__document_id=document_id, delivery__isnull=True, message__isnull=True
    ).exists()


def send_requested_emails(*, session_id: int) -> int:
    """Queue the session's receipt in the outbox for each address left for it and not yet
    served (once per address); returns how many were queued."""
    document = card_receipt_of(session_id=session_id)
    if document is None or pdf.latest_file(document) is None:
        return 0
    queued = 0
    with transaction.atomic():
        pending = ReceiptEmailRequest.objects.select_for_update().filter(
            session_id=session_id, delivery__isnull=True, message__isnull=True
        )
        for request in pending.exclude(email=""):
            message = document_messages.queue_receipt_email(
                document=document, email=request.email, request_id=request.pk
            )
            ReceiptEmailRequest.objects.filter(pk=request.pk).update(message=message)
            queued += 1
    return queued


def send_for_document(document_id: int) -> int:
    """The addresses waiting for a card receipt whose PDF was just stored."""
    card = Document.objects.filter(pk=document_id).values_list("card_payment", flat=True).first()
    if not card or "session_id" not in card:
        return 0
    return send_requested_emails(session_id=card["session_id"])


def erase_expired_receipt_addresses(*, now: datetime | None = None) -> int:
    """Blank the addresses left on receipt pages over 30 days ago, and their messages'."""
    now = now or timezone.now()
    cutoff = now - AD_HOC_EMAIL_RETENTION
    changed = 0
    with transaction.atomic():
        expired = ReceiptEmailRequest.objects.filter(requested_at__lt=cutoff).exclude(email="")
        for delivery in EmailDelivery.objects.filter(pk__in=expired.values("delivery_id")).exclude(
            recipient=""
        ):
            delivery.last_error = delivery.last_error.replace(delivery.recipient, "")
            delivery.recipient = ""
            delivery.save(update_fields=["recipient", "last_error"])
            changed += 1
        changed += OutboundMessage.objects.filter(
            pk__in=expired.values("message_id"), erased_at__isnull=True
        ).update(recipient="", subject="", body_text="", body_html="", erased_at=now)
        changed += expired.update(email="")
    return changed
