"""Documents told to their customer through the outbox: the issued document with its PDF (and
e-invoice) attached, the card receipt's link, the receipt a driver asked for on the public page,
and staff re-sends. The rows are written in the issuing transaction; the files are attached when
the message is sent, once the PDF is stored."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from cpo_portal.kernel.links import short_link
from customers.notifications.attachments import Attachment, AttachmentError, AttachmentNotReady
from customers.notifications.models import OutboundMessage
from customers.notifications.outbox import Notice, notify_many, tell
from invoicing.documents.models import Document
from invoicing.einvoices.models import EInvoice
from invoicing.output import pdf, receipt_links
from invoicing.output.emails import DeliveryError, attachment_name, email_context
from sessions.metering import transparency
from sessions.models import SignedMeterData

PDF_NOT_READY = "the PDF is not rendered yet"


def regarding(document_id: int) -> str:
    return f"document:{document_id}"


def messages_of(document_id: int):
    """The outbox messages about a document (the admin's delivery log)."""
    return OutboundMessage.objects.filter(regarding=regarding(document_id))


def queue_issued(document_ids: Sequence[int]) -> int:
    """In the issuing transaction: a card receipt's link goes to its customer; any other document
    is e-mailed (mandatory) with its PDF when the operator e-mails documents automatically.
    Returns how many messages were queued; queued once per document however often called.
    The e-mail waits for its PDF: the render releases it."""
    documents = Document.objects.filter(pk__in=list(document_ids)).select_related(
        "customer__operator", "profile", "credited_document"
    )
    notices = []
    for document in documents.iterator(chunk_size=500):
        if document.card_payment and "session_id" in document.card_payment:
            notices.append(_receipt_ready(document))
        elif document.profile.content.get("auto_email") and document.recipient_email:
            notices.append(
                _document_notice(
                    document,
                    event="document_issued",
                    email=document.recipient_email,
                    dedupe_key=f"document_issued:document:{document.pk}",
                    files_follow=PDF_NOT_READY,
                )
            )
    return notify_many(notices)


def resend(*, document: Document, recipient: str = "") -> OutboundMessage:
    """Staff re-send: the newest PDF of the document by e-mail to its recipient (or another
    address), whatever the customer's preferences."""
    if pdf.latest_file(document) is None:
        raise DeliveryError(f"{document} has no PDF yet; re-render it first.")
    recipient = (recipient or document.recipient_email or "").strip()
    if not recipient:
        raise DeliveryError(f"{document} has no recipient e-mail address.")
    (message,) = tell(
        _document_notice(document, event="document_issued", email=recipient, sms=False, resend=True)
    )
    return message


def queue_receipt_email(
    *, document: Document, email: str, request_id: int
) -> OutboundMessage | None:
    """The receipt a driver asked for on the public page, to the address they left there
    (None when this request's message was queued before)."""
    messages = tell(
        _document_notice(
            document,
            event="receipt_email",
            email=email,
            sms=False,
            dedupe_key=f"receipt_email:request:{request_id}",
        )
    )
    return messages[0] if messages else None


def document_attachments(document_id: int) -> list[Attachment]:
    """The newest stored PDF, checked against its SHA-256, the XRechnung XML where one exists
    (a Factur-X PDF already holds its XML), and a single session's signed meter data."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise AttachmentError(f"document {document_id} does not exist")
    document_file = pdf.latest_file(document)
    if document_file is None:
        raise AttachmentNotReady(PDF_NOT_READY)
    try:
        with document_file.file.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise AttachmentError(f"the stored PDF {document_file.file.name} is missing") from exc
    if hashlib.sha256(data).hexdigest() != document_file.sha256:
        raise AttachmentError(
            f"the stored PDF {document_file.file.name} does not match its SHA-256"
        )
    files: list[Attachment] = [(attachment_name(document), data, "application/pdf")]
    einvoice = (
        EInvoice.objects.filter(document=document)
        .exclude(format=EInvoice.Format.FACTURX)
        .only("xml", "format", "document")
        .first()
    )
    if einvoice is not None:
        files.append((einvoice.filename, bytes(einvoice.xml), "application/xml"))
    # A session's own document carries its signed meter data (Eichrecht); a monthly one points
    # to the portal, where each session's file is.
    signed = list(
        SignedMeterData.objects.filter(
            session_id__in=document.billed_sessions.values("session_id")
        ).select_related("session__evse")[:2]
    )
    if len(signed) == 1:
        data, name, content_type = transparency.download(signed[0])
        files.append((name, data, content_type))
    return files


def _document_notice(
    document: Document,
    *,
    event: str,
    email: str,
    dedupe_key: str = "",
    sms: bool = True,
    resend: bool = False,
    files_follow: str = "",
) -> Notice:
    with translation.override(document.language or None):
        context = email_context(document)
        context.update(
            customer_name=document.customer.display_name,
            operator_name=context["supplier_name"],
            # Texts carry no attachments: the portal's page of the document.
            link=short_link(reverse("portal:invoice", args=[document.pk]))
            if sms and document.customer.mobile_phone and settings.PUBLIC_BASE_URL
            else "",
        )
    return Notice(
        event=event,
        customer=document.customer,
        context=context,
        email=email,
        language=document.language,
        regarding=regarding(document.pk),
        reply_to=context["supplier_email"],
        dedupe_key=dedupe_key,
        mandatory=True,
        sms=sms,
        resend=resend,
        files_follow=files_follow,
    )


def _receipt_ready(document: Document) -> Notice:
    customer = document.customer
    link = receipt_links.receipt_url(document.card_payment["session_id"])
    supplier = document.profile.supplier
    return Notice(
        event="receipt_ready",
        customer=customer,
        context={
            "customer_name": customer.display_name,
            "operator_name": supplier.get("name") or supplier.get("legal_name", ""),
            "number": document.display_number,
            "link": link,
        },
        email=document.recipient_email,
        language=document.language,
        regarding=regarding(document.pk),
        dedupe_key=f"receipt_ready:document:{document.pk}",
    )
