"""What goes into the archive: an issued document's PDF revisions, the session payloads it
bills with their signed meter data, and payment records. E-invoice XML and booking batches
come through `archive_file`.

Personal data that tax law does not need never enters: the e-mail address an ad-hoc driver gave
for a receipt is removed from the session payload before it is archived.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import simplejson
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from invoicing.archive.archiving import ArchiveError, ArchiveItem, archive_items
from invoicing.archive.models import ArchiveEntry, ArchiveKind
from invoicing.documents.models import BilledSession, Document, DocumentStatus
from invoicing.einvoices.models import EInvoice
from invoicing.output.models import DocumentFile
from invoicing.payments.models import Payment, PaymentTransaction
from sessions.metering.transparency import transparency_file
from sessions.models import ChargingSession, SignedMeterData

# How far back the hourly catch-up looks for PDFs and payments without an archive entry.
CATCH_UP_WINDOW = timedelta(days=7)


def _without_keys(data: Any, keys: frozenset[str]) -> Any:
    if isinstance(data, dict):
        return {k: _without_keys(v, keys) for k, v in data.items() if k not in keys}
    if isinstance(data, list):
        return [_without_keys(v, keys) for v in data]
    return data


def archived_payload(raw_payload: str) -> bytes:
    """The session payload as received, less the personal fields tax law does not need."""
    keys = frozenset(settings.ARCHIVE_PAYLOAD_PERSONAL_KEYS)
    try:
        data = simplejson.loads(raw_payload, use_decimal=True)
    except ValueError:
        return raw_payload.encode()
    stripped = _without_keys(data, keys)
    if stripped == data:
        # Nothing to remove: the bytes exactly as received.
        return raw_payload.encode()
    return simplejson.dumps(stripped, use_decimal=True, ensure_ascii=False).encode()


def _pdf_item(document: Document, document_file: DocumentFile) -> ArchiveItem:
    with default_storage.open(document_file.file.name, "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != document_file.sha256:
        raise ArchiveError(
            f"The PDF {document_file.file.name} of {document.display_number} does not match the "
            "SHA-256 recorded when it was rendered; it is not archived."
        )
    return ArchiveItem(
        kind=ArchiveKind.DOCUMENT_PDF,
        reference=document.display_number,
        source_key=f"document_file:{document_file.pk}",
        content=data,
        record_date=document.issue_date,
        content_type="application/pdf",
    )


def _session_item(document: Document, session: ChargingSession) -> ArchiveItem:
    return ArchiveItem(
        kind=ArchiveKind.SESSION_PAYLOAD,
        reference=f"{document.display_number} session {session.source}:{session.source_id}",
        source_key=f"session:{session.pk}",
        content=archived_payload(session.raw_payload),
        record_date=document.issue_date,
        content_type="application/json",
    )


def _signed_data_item(document: Document, meter_data: SignedMeterData) -> ArchiveItem:
    session = meter_data.session
    return ArchiveItem(
        kind=ArchiveKind.SIGNED_METER_DATA,
        reference=f"{document.display_number} session {session.source}:{session.source_id}",
        source_key=f"signed_meter_data:{meter_data.pk}",
        content=transparency_file(meter_data),
        record_date=document.issue_date,
        content_type="application/xml",
    )


def _einvoice_item(document: Document, einvoice: EInvoice) -> ArchiveItem:
    return ArchiveItem(
        kind=ArchiveKind.EINVOICE_XML,
        reference=document.display_number,
        source_key=f"einvoice:{einvoice.pk}",
        content=bytes(einvoice.xml),
        record_date=document.issue_date,
        content_type="application/xml",
    )


def archive_document(*, document_id: int) -> list[ArchiveEntry]:
    """Archive an issued document's stored PDF revisions, its e-invoice XML and the session
    payloads it bills."""
    document = Document.objects.filter(pk=document_id).first()
    if document is None or document.status == DocumentStatus.DRAFT:
        return []
    items = [_pdf_item(document, f) for f in document.files.order_by("revision")]
    items += [_einvoice_item(document, e) for e in EInvoice.objects.filter(document=document)]
    session_ids = BilledSession.objects.filter(document=document).values_list(
        "session_id", flat=True
    )
    sessions = ChargingSession.objects.filter(pk__in=session_ids).only(
        "pk", "source", "source_id", "raw_payload"
    )
    items += [_session_item(document, s) for s in sessions.order_by("pk")]
    signed = SignedMeterData.objects.filter(session_id__in=session_ids).select_related(
        "session__evse"
    )
    items += [_signed_data_item(document, m) for m in signed.order_by("session_id")]
    return archive_items(operator=document.operator, items=items)


def payment_record(payment: Payment) -> bytes:
    """A payment as the archive keeps it: the booking facts, not who typed them in."""
    return simplejson.dumps(
        {
            "payment_id": payment.pk,
            "document_id": payment.document_id,
            "document_number": payment.document.display_number,
            "amount": payment.amount,
            "currency": payment.document.currency,
            "paid_on": payment.paid_on.isoformat(),
            "method": payment.method,
            "reference": payment.reference,
            "recorded_at": payment.created_at.isoformat(),
        },
        use_decimal=True,
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


def archive_payment(*, payment_id: int) -> ArchiveEntry | None:
    """Archive one recorded payment (once)."""
    payment = Payment.objects.select_related("document__operator").filter(pk=payment_id).first()
    if payment is None:
        return None
    (entry,) = archive_items(
        operator=payment.document.operator,
        items=[
            ArchiveItem(
                kind=ArchiveKind.PAYMENT_RECORD,
                reference=payment.document.display_number,
                source_key=f"payment:{payment.pk}",
                content=payment_record(payment),
                record_date=payment.paid_on,
                content_type="application/json",
            )
        ],
    )
    return entry


def transaction_record(entry: PaymentTransaction) -> bytes:
    """A ledger transaction as the archive keeps it: what moved, when, for whom and why, with
    the provider's payload (also archived on its own, byte for byte)."""
    return simplejson.dumps(
        {
            "transaction_id": entry.pk,
            "provider": entry.provider,
            "provider_reference": entry.provider_reference,
            "kind": entry.kind,
            "status": entry.status,
            "amount": entry.amount,
            "currency": entry.currency,
            "method": entry.payment_method,
            "value_date": entry.value_date.isoformat(),
            "occurred_at": entry.occurred_at.isoformat(),
            "customer_id": entry.customer_id,
            "parent_transaction_id": entry.parent_id,
            "intended_document_number": (
                entry.intended_document.display_number if entry.intended_document else None
            ),
            "payer_name": entry.payer_name,
            "payer_iban": entry.payer_iban,
            "remittance_information": entry.remittance_information,
            "failure_reason": entry.failure_reason,
            "payload": entry.payload,
            "recorded_at": entry.updated_at.isoformat(),
        },
        use_decimal=True,
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


def _payload_type(payload: str) -> str:
    try:
        simplejson.loads(payload)
    except ValueError:
        return "application/xml" if payload.lstrip().startswith("<") else "text/plain"
    return "application/json"


def archive_transaction(*, transaction_id: int) -> list[ArchiveEntry]:
    """Archive a ledger transaction once per status it reaches (the provider's later payload
    replaces the earlier one in the ledger, never in the archive), with its payload exactly as
    received."""
    entry = (
        PaymentTransaction.objects.select_related("operator", "intended_document")
        .filter(pk=transaction_id)
        .first()
    )
    if entry is None:
        return []
    reference = f"{entry.provider} {entry.provider_reference}"[:200]
    items = [
        ArchiveItem(
            kind=ArchiveKind.PAYMENT_RECORD,
            reference=reference,
            source_key=f"transaction:{entry.pk}:{entry.status}",
            content=transaction_record(entry),
            record_date=entry.value_date,
            content_type="application/json",
        )
    ]
    if entry.payload:
        items.append(
            ArchiveItem(
                kind=ArchiveKind.PAYMENT_RECORD,
                reference=reference,
                source_key=f"transaction_payload:{entry.pk}:{entry.status}",
                content=entry.payload.encode(),
                record_date=entry.value_date,
                content_type=_payload_type(entry.payload),
            )
        )
    return archive_items(operator=entry.operator, items=items)


def archive_pending(*, now=None) -> int:
    """Archive what a lost task did not (broker down): the PDFs, payments and ledger
    transactions of the last weeks without an entry. Returns how many were archived."""
    since = (now or timezone.now()) - CATCH_UP_WINDOW
    archived = set(
        ArchiveEntry.objects.filter(archived_at__gte=since - CATCH_UP_WINDOW)
        .filter(kind__in=[ArchiveKind.DOCUMENT_PDF, ArchiveKind.PAYMENT_RECORD])
        .values_list("source_key", flat=True)
    )
    files = DocumentFile.objects.filter(rendered_at__gte=since).values_list("pk", "document_id")
    document_ids = sorted({d for pk, d in files if f"document_file:{pk}" not in archived})
    for document_id in document_ids:
        archive_document(document_id=document_id)
    payments = Payment.objects.filter(created_at__gte=since).values_list("pk", flat=True)
    payment_ids = [pk for pk in payments if f"payment:{pk}" not in archived]
    for payment_id in payment_ids:
        archive_payment(payment_id=payment_id)
    entries = PaymentTransaction.objects.filter(updated_at__gte=since).values_list("pk", "status")
    transaction_ids = [pk for pk, status in entries if f"transaction:{pk}:{status}" not in archived]
    for transaction_id in transaction_ids:
        archive_transaction(transaction_id=transaction_id)
    return len(document_ids) + len(payment_ids) + len(transaction_ids)
