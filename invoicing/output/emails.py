"""What a document's e-mail says, and the deliveries queued before the outbox took over.

Document e-mails are outbox messages now (invoicing/output/document_messages.py). Delivery rows
still queued or failing at the upgrade are sent here as before: claimed before the message goes
out and marked sent right after, so a task that runs twice sends once.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from cpo_portal.kernel import formatting
from invoicing.documents.models import Document
from invoicing.documents.receipts import asks_for_payment
from invoicing.einvoices.models import EInvoice
from invoicing.output import pay_links, pdf
from invoicing.output.models import EmailDelivery
from invoicing.setup.models import DocumentKind

logger = logging.getLogger(__name__)

# Seconds to wait before retry 1, 2, ...: a mail server that is down for a few hours still
# gets the message, and a bad address stops costing attempts after the last delay.
RETRY_DELAYS = (60, 5 * 60, 15 * 60, 60 * 60, 4 * 60 * 60)
# A delivery left "sending" longer than this (the worker died mid-send) may be claimed again.
SENDING_LEASE = timedelta(minutes=15)
QUEUED_GRACE = timedelta(minutes=10)


class DeliveryError(Exception):
    """A document cannot be e-mailed (no PDF yet, no address); the message says why."""


class TransientDeliveryError(DeliveryError):
    """The mail server or the storage failed this time; the attempt is retried later."""


def retry_delay(retries: int) -> int:
    """Seconds before the next attempt after `retries` retries."""
    return RETRY_DELAYS[min(retries, len(RETRY_DELAYS) - 1)]


def _claim(delivery_id: int) -> bool:
    """Take the delivery for one attempt; False when it is sent or another worker has it."""
    now = timezone.now()
    return bool(
        EmailDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status__in=[EmailDelivery.Status.QUEUED, EmailDelivery.Status.FAILED])
            | Q(status=EmailDelivery.Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
        )
        .update(status=EmailDelivery.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )


def _fail(delivery_id: int, reason: str) -> None:
    EmailDelivery.objects.filter(pk=delivery_id, status=EmailDelivery.Status.SENDING).update(
        status=EmailDelivery.Status.FAILED, last_error=reason[:4000]
    )


def send_email(*, delivery_id: int) -> str:
    """Send one delivery and record the outcome; returns the delivery's status afterwards.

    Permanent problems (the stored PDF is gone or altered) fail without retry; a mail server
    or storage failure raises TransientDeliveryError after recording it, for the task to retry.
    """
    if not _claim(delivery_id):
        status = (
            EmailDelivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        )
        return status or "missing"
    delivery = EmailDelivery.objects.select_related(
        "document_file__document__profile", "document_file__document__credited_document"
    ).get(pk=delivery_id)
    try:
        message = build_message(delivery)
    except TransientDeliveryError as exc:
        _fail(delivery_id, str(exc))
        logger.warning("E-mail delivery %s failed, will retry: %s", delivery_id, exc)
        raise
    except DeliveryError as exc:
        _fail(delivery_id, str(exc))
        logger.error("E-mail delivery %s failed for good: %s", delivery_id, exc)
        return EmailDelivery.Status.FAILED
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        _fail(delivery_id, reason)
        logger.warning("E-mail delivery %s failed, will retry: %s", delivery_id, reason)
        raise TransientDeliveryError(reason) from exc
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return EmailDelivery.Status.SENT


def email_context(document: Document) -> dict:
    """What the e-mail says, formatted in the active language (the delivery's)."""
    supplier = document.profile.supplier
    payable = asks_for_payment(document)
    return {
        "document": document,
        "title": pdf.document_title(
            document.kind,
            cancels=document.credited_document.kind if document.credited_document_id else None,
        ),
        "number": document.display_number,
        "issue_date": formatting.long_date(document.issue_date),
        "due_date": formatting.long_date(document.due_date) if payable else "",
        "pay_link": pay_links.url(document) if payable else "",
        "total": formatting.amount(document.total_gross, document.currency),
        # Ad-hoc drivers are known by their e-mail address only: no "Dear walkin@…".
        "recipient_name": ""
        if document.recipient_name == document.recipient_email
        else document.recipient_name,
        "supplier_name": supplier.get("name") or supplier.get("legal_name", ""),
        "supplier_legal_name": supplier.get("legal_name") or supplier.get("name", ""),
        "supplier_email": supplier.get("email", ""),
        "cancels_receipt": bool(document.credited_document_id)
        and document.credited_document.kind == DocumentKind.SALES_RECEIPT,
        "credited_number": document.credited_document.display_number
        if document.credited_document_id
        else "",
        "pro_forma": document.kind == DocumentKind.PRO_FORMA,
        "rtl": translation.get_language_bidi(),
        "language": translation.get_language(),
    }


def attachment_name(document: Document) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in document.display_number)
    return f"{safe or document.pk}.pdf"


def build_message(delivery: EmailDelivery) -> EmailMultiAlternatives:
    """The e-mail in the delivery's language with the stored PDF attached, checked by SHA-256."""
    document_file = delivery.document_file
    document = document_file.document
    try:
        with document_file.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise DeliveryError(f"the stored PDF {document_file.file.name} is missing") from exc
    except OSError as exc:
        raise TransientDeliveryError(f"the stored PDF cannot be read now: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != document_file.sha256:
        raise DeliveryError(f"the stored PDF {document_file.file.name} does not match its SHA-256")
    with translation.override(delivery.language or settings.LANGUAGE_CODE):
        context = email_context(document)
        subject = " ".join(
            render_to_string("invoicing/email/document_subject.txt", context).split()
        )
        text = render_to_string("invoicing/email/document.txt", context)
        html = render_to_string("invoicing/email/document.html", context)
    supplier_email = document.profile.supplier.get("email", "")
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient],
        reply_to=[supplier_email] if supplier_email else None,
        headers={"Content-Language": delivery.language},
    )
    message.attach_alternative(html, "text/html")
    message.attach(attachment_name(document), data, "application/pdf")
    einvoice = EInvoice.objects.filter(document=document).exclude(format=EInvoice.Format.FACTURX)
    einvoice = einvoice.only("xml", "format", "document").first()
    if einvoice is not None:
        # XRechnung: the structured invoice is its own file (a Factur-X PDF already holds it).
        message.attach(einvoice.filename, bytes(einvoice.xml), "application/xml")
    return message


def stale_delivery_ids(*, now=None) -> list[int]:
    """Deliveries whose task was lost: queued for a while, or left sending past the lease."""
    now = now or timezone.now()
    return list(
        EmailDelivery.objects.filter(
            Q(status=EmailDelivery.Status.QUEUED, queued_at__lt=now - QUEUED_GRACE)
            | Q(status=EmailDelivery.Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
        ).values_list("id", flat=True)[:5000]
    )
