"""Exports for accountants of invoicing: invoices, invoice lines, payments and open items
(docs/exports.md).

Registered from InvoicingConfig.ready(). The sessions export (sessions/exports.py) gets the
number of the invoice that bills each session from here: the sessions layer knows no documents.
The writers, the jobs and the registry are the kernel's (cpo_portal/kernel/exports/).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.db.models import QuerySet, Sum

from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import Export, in_chunks, register
from cpo_portal.kernel.periods import today_for
from customers.models import Customer
from invoicing.accounting.resources import (
    DocumentLineResource,
    DocumentResource,
    OpenItem,
    OpenItemResource,
    PaymentTransactionResource,
    billing_document_number,
)
from invoicing.documents.models import Document, DocumentLine, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import INCOMING_KINDS, PaymentTransaction, TransactionStatus
from invoicing.setup.models import DocumentKind
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


class OpenItemsExport(DocumentExport):
    """Of the listed documents, every invoice or receipt still (partly) unpaid, then the unused
    credit of the listed documents' customers, one row per customer and currency."""

    def row_queryset(self, source: QuerySet) -> QuerySet:
        return source.filter(
            status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
            kind__in=(DocumentKind.INVOICE, DocumentKind.SALES_RECEIPT),
        )

    def rows(self, source: QuerySet) -> Iterator[object]:
        today = {}
        documents = self.row_queryset(source).select_related("customer", "operator")
        for document in in_chunks(documents):
            if document.operator_id not in today:
                today[document.operator_id] = today_for(document.operator)
            late = (today[document.operator_id] - document.due_date).days
            yield OpenItem(
                item="document",
                customer_id=document.customer_id,
                customer_name=str(document.customer) if document.customer_id else "",
                document_id=document.pk,
                number=document.display_number,
                kind=document.kind,
                status=document.status,
                issue_date=document.issue_date,
                due_date=document.due_date,
                currency=document.currency,
                total_gross=document.total_gross,
                amount_paid=document.amount_paid,
                outstanding=document.outstanding,
                days_overdue=max(late, 0),
            )
        yield from credit_items(source.values("customer_id"))


def credit_items(customer_ids: QuerySet) -> Iterator[OpenItem]:
    """Each customer's unused credit per currency, a negative open item (money owed to them)."""
    credit = (
        PaymentTransaction.objects.filter(
            customer_id__in=customer_ids,
            kind__in=INCOMING_KINDS,
            status=TransactionStatus.SUCCEEDED,
        )
        .annotate(left=ledger.unallocated_sql())
        .filter(left__gt=0)
        .order_by()
        .values("customer_id", "currency")
        .annotate(credit=Sum("left"))
        .order_by("customer_id", "currency")
    )
    names = {}
    for row in credit:
        if row["customer_id"] not in names:
            names[row["customer_id"]] = str(Customer.objects.get(pk=row["customer_id"]))
        yield OpenItem(
            item="credit",
            customer_id=row["customer_id"],
            customer_name=names[row["customer_id"]],
            currency=row["currency"],
            outstanding=-Decimal(row["credit"]),
        )


INVOICES = register(
    DocumentExport(ExportJob.What.INVOICES, Document, DocumentResource, "issue_date")
)
LINES = register(
    DocumentLineExport(ExportJob.What.LINES, Document, DocumentLineResource, "issue_date")
)
PAYMENTS = register(
    Export(ExportJob.What.PAYMENTS, PaymentTransaction, PaymentTransactionResource, "value_date")
)
OPEN_ITEMS = register(
    OpenItemsExport(ExportJob.What.OPEN_ITEMS, Document, OpenItemResource, "issue_date")
)
SESSIONS.annotate(billing_document_number=billing_document_number)
