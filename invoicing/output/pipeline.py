"""What follows an issue or a correction once it is committed: the PDF, then its e-mails.

The receivers of `documents_issued` and `recipient_corrected` (invoicing/receivers.py) call these
hooks on commit; they announce the work, and the receivers queue Celery tasks (a request never
renders).
The tasks call back into `render_document` / `render_missing`, which hold the sequence:
render and store the PDF (announcing it to the archive), then release the outbox e-mails that
wait for it (docs/notifications.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.utils import timezone

from customers.notifications import outbox
from invoicing.documents.models import Document, DocumentStatus
from invoicing.output import document_messages, pdf
from invoicing.output.models import DocumentFile, RenderFailure
from invoicing.signals import document_pdf_stored, pdf_batch_requested, pdf_render_requested

logger = logging.getLogger(__name__)

# Issued documents younger than this are left to the task queued at issue.
MISSING_PDF_GRACE = timedelta(minutes=10)
MISSING_PDF_WINDOW = timedelta(days=7)
MISSING_PDF_BATCH = 5000


def _queue_render(document_id: int, reason: str, rendered_by_id: int | None = None) -> bool:
    try:
        pdf_render_requested.send(
            sender=Document, document_id=document_id, reason=reason, rendered_by_id=rendered_by_id
        )
    except Exception:
        # The documents are committed; `render_missing_pdfs` renders what was not queued.
        logger.exception("Could not queue the PDF of document %s", document_id)
        return False
    return True


FAN_OUT_BATCH = 500


def after_issue(document_ids: Sequence[int]) -> None:
    """Called on commit with the ids of newly issued documents."""
    if len(document_ids) == 1:
        _queue_render(document_ids[0], DocumentFile.Reason.ISSUED)
        return
    # A billing chunk issues hundreds of documents: one message now, one per PDF in a worker.
    for start in range(0, len(document_ids), FAN_OUT_BATCH):
        batch = list(document_ids[start : start + FAN_OUT_BATCH])
        try:
            pdf_batch_requested.send(sender=Document, document_ids=batch)
        except Exception:
            # The documents are committed; `render_missing_pdfs` renders what was not queued.
            logger.exception("Could not queue the PDFs of %s documents", len(batch))


def queue_issued_pdfs(document_ids: Sequence[int]) -> int:
    """One render task per issued document (run by a worker); returns how many were queued."""
    return sum(_queue_render(i, DocumentFile.Reason.ISSUED) for i in document_ids)


def after_recipient_correction(document_id: int) -> None:
    """Called on commit after an issued document's recipient details were corrected."""
    _queue_render(document_id, DocumentFile.Reason.RECIPIENT_CORRECTED)


def request_rerender(*, document: Document, requested_by=None) -> bool:
    """Staff asked for the PDF again (e.g. after a template fix); rendered by a worker."""
    return _queue_render(
        document.pk, DocumentFile.Reason.RERENDERED, getattr(requested_by, "pk", None)
    )


def render_document(
    *, document_id: int, reason: str, rendered_by_id: int | None = None
) -> DocumentFile | None:
    """Render and store the PDF (once per cause); the document's e-mails queued at issue, which
    waited for it, go out now. Idempotent: rendering twice stores and sends once."""
    rendered_by = (
        get_user_model().objects.filter(pk=rendered_by_id).first() if rendered_by_id else None
    )
    document_file, created = pdf.store_document_pdf(
        document_id=document_id, reason=reason, rendered_by=rendered_by
    )
    if created:
        # The archive keeps every revision (docs/archive.md).
        document_pdf_stored.send(
            sender=DocumentFile, document_id=document_id, document_file_id=document_file.pk
        )
    if document_file is not None:
        outbox.release(regarding=document_messages.regarding(document_id))
    return document_file


def documents_missing_pdf(*, now=None):
    """Issued documents of the last days without any PDF and without a recorded failure."""
    now = now or timezone.now()
    return (
        Document.objects.exclude(status=DocumentStatus.DRAFT)
        .filter(
            issued_at__gte=now - MISSING_PDF_WINDOW,
            issued_at__lt=now - MISSING_PDF_GRACE,
        )
        .exclude(Exists(DocumentFile.objects.filter(document=OuterRef("pk"))))
        .exclude(Exists(RenderFailure.objects.filter(document=OuterRef("pk"))))
        .order_by("issued_at", "id")
    )


def render_missing(*, now=None) -> int:
    """Queue the PDFs a lost task never rendered (broker down at issue); returns how many."""
    ids = list(documents_missing_pdf(now=now).values_list("id", flat=True)[:MISSING_PDF_BATCH])
    return sum(_queue_render(document_id, DocumentFile.Reason.ISSUED) for document_id in ids)
