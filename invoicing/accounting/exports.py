"""Exports for accountants of invoicing: invoices and invoice lines (docs/exports.md).

Registered from InvoicingConfig.ready(). The sessions export (sessions/exports.py) gets the
number of the invoice that bills each session from here: the sessions layer knows no documents.
The writers, the jobs and the registry are the kernel's (cpo_portal/kernel/exports/).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import Export, in_chunks, register
from invoicing.accounting.resources import (
    DocumentLineResource,
    DocumentResource,
    billing_document_number,
)
from invoicing.documents.models import Document, DocumentLine, DocumentStatus
from sessions.exports import SESSIONS


class DocumentExport(Export):
    """Issued documents (drafts are never exported), one row per document."""

    def default_queryset(self) -> QuerySet:
        return super().default_queryset().exclude(status=DocumentStatus.DRAFT)


class DocumentLineExport(DocumentExport):
    """The documents of the list, one row per line."""

    def row_queryset(self, source: QuerySet) -> QuerySet:
        return DocumentLine.objects.filter(document__in=source.values("pk"))

    def rows(self, source: QuerySet) -> Iterator[object]:
        yield from in_chunks(self.prepare(self.row_queryset(source)))


INVOICES = register(
    DocumentExport(ExportJob.What.INVOICES, Document, DocumentResource, "issue_date")
)
LINES = register(
    DocumentLineExport(ExportJob.What.LINES, Document, DocumentLineResource, "issue_date")
)
SESSIONS.annotate(billing_document_number=billing_document_number)
