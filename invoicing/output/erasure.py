"""GDPR: an ad-hoc driver's e-mail address is gone everywhere 30 days after it was collected.

The customers layer blanks the customer's address; this removes the copies the layers above
keep: the recipient stored on the driver's receipts (a permitted recorded change: recipient
details are not frozen), the e-mail deliveries of those receipts, the session payloads as
received and the addresses left on public receipt pages. Amounts, numbers and sessions stay
intact.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from customers.models import Customer
from customers.notifications.models import OutboundMessage
from customers.services import AD_HOC_EMAIL_RETENTION, erase_expired_ad_hoc_emails
from invoicing.documents.models import Document
from invoicing.output.models import EmailDelivery
from invoicing.output.receipt_requests import erase_expired_receipt_addresses
from sessions.models import ChargingSession


def _payload_address(raw: str) -> str:
    """The ad-hoc e-mail a stored payload carries, if any."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return ""
    value = payload.get("ad_hoc_email") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else ""


def erase_expired_ad_hoc_addresses(*, now: datetime | None = None) -> int:
    """Blank every copy of ad-hoc e-mails collected over 30 days ago (or of receipts issued
    that long ago); returns how many rows changed."""
    now = now or timezone.now()
    cutoff = now - AD_HOC_EMAIL_RETENTION
    expired = Customer.objects.filter(kind=Customer.Kind.AD_HOC).filter(
        Q(email_collected_at__lt=cutoff) | Q(email="")
    )
    changed = 0
    with transaction.atomic():
        documents = Document.objects.filter(customer__kind=Customer.Kind.AD_HOC).filter(
            Q(customer__in=expired) | Q(issued_at__lt=cutoff)
        )
        changed += (
            documents.filter(recipient_name=F("recipient_email"))
            .exclude(recipient_name="")
            .update(recipient_name="")
        )
        changed += documents.exclude(recipient_email="").update(recipient_email="")
        for delivery in EmailDelivery.objects.filter(document__in=documents).exclude(recipient=""):
            delivery.last_error = delivery.last_error.replace(delivery.recipient, "")
            delivery.recipient = ""
            delivery.save(update_fields=["recipient", "last_error"])
            changed += 1
        # The outbox's messages about those documents (their texts name the driver too).
        changed += (
            OutboundMessage.objects.filter(customer__kind=Customer.Kind.AD_HOC)
            .filter(Q(customer__in=expired) | Q(created_at__lt=cutoff))
            .exclude(recipient="", erased_at__isnull=False)
            .update(
                recipient="",
                subject="",
                body_text="",
                body_html="",
                last_error="",
                erased_at=now or timezone.now(),
            )
        )
        sessions = ChargingSession.objects.filter(customer__in=expired, raw_payload__contains="@")
        for session in sessions.only("pk", "raw_payload"):
            address = _payload_address(session.raw_payload)
            if address:
                session.raw_payload = session.raw_payload.replace(address, "")
                session.save(update_fields=["raw_payload"])
                changed += 1
        changed += erase_expired_ad_hoc_emails(now=now)
        changed += erase_expired_receipt_addresses(now=now)
    return changed
