"""Export columns of documents and document lines, as django-import-export resources.

A resource is the list of an export's columns: stable name, where the value comes from, and a
typed widget (cpo_portal/kernel/exports/columns.py) that returns the native value, so numbers
stay numbers. The exports are registered in invoicing/accounting/exports.py; writing the file
(streaming, formula neutralisation) is the kernel's (cpo_portal/kernel/exports/); see
docs/exports.md for why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import OuterRef, Prefetch, Subquery

from cpo_portal.kernel.exports.columns import (
    Day,
    ExportResource,
    Integer,
    Money,
    Number,
    Timestamp,
    column,
)
from invoicing.documents.models import BilledSession, Document
from invoicing.payments.models import (
    INCOMING_KINDS,
    Payment,
    PaymentTransaction,
    TransactionKind,
    TransactionStatus,
)
from invoicing.setup.models import DocumentKind

# --- documents -------------------------------------------------------------------------------


class DocumentResource(ExportResource):
    """One row per document (invoice, pro forma, sales receipt, credit note)."""

    document_id = column("pk", Integer())
    number = column("display_number")
    kind = column("kind")
    status = column("status")
    origin = column("origin")
    issue_date = column("issue_date", Day())
    due_date = column("due_date", Day())
    period_start = column("period_start", Day())
    period_end = column("period_end", Day())
    operator = column("operator__name")
    customer_id = column("customer_id", Integer())
    recipient_name = column("recipient_name")
    recipient_company_registration_id = column("recipient_company_registration_id")
    recipient_vat_id = column("recipient_vat_id")
    recipient_street = column("recipient_street")
    recipient_postal_code = column("recipient_postal_code")
    recipient_city = column("recipient_city")
    recipient_country = column("recipient_country")
    recipient_email = column("recipient_email")
    currency = column("currency")
    total_net = column("total_net", Money())
    total_vat = column("total_vat", Money())
    total_gross = column("total_gross", Money())
    amount_paid = column("amount_paid", Money())
    amount_due = column(None, Money())
    paid_on = column("paid_on", Day())
    vat_summary = column(None)
    credited_document_number = column("credited_document__display_number")
    session_count = column("session_count", Integer())
    total_energy_kwh = column("total_energy_kwh", Number(3))
    language = column("language")

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("operator", "credited_document")

    def dehydrate_amount_due(self, document: Document) -> Decimal:
        if document.kind == DocumentKind.CREDIT_NOTE:
            return Decimal("0.00")  # a credit note is money owed to the customer, not due
        return document.total_gross - document.amount_paid

    def dehydrate_vat_summary(self, document: Document) -> str:
        return "; ".join(
            f"{row.get('rate')} %: net {row.get('net')}, VAT {row.get('vat')}"
            for row in document.vat_summary or []
        )


class DocumentLineResource(ExportResource):
    """One row per document line, with its document's key columns and its session."""

    document_id = column("document_id", Integer())
    document_number = column("document__display_number")
    document_kind = column("document__kind")
    document_status = column("document__status")
    issue_date = column("document__issue_date", Day())
    customer_id = column("document__customer_id", Integer())
    recipient_name = column("document__recipient_name")
    currency = column("document__currency")
    position = column("position", Integer())
    component = column("service")
    description = column("description")
    session_id = column("session_id", Integer())
    session_source = column("session__source")
    session_source_id = column("session__source_id")
    session_started_at_utc = column("session__started_at", Timestamp())
    session_ended_at_utc = column("session__ended_at", Timestamp())
    quantity = column("quantity", Number(3))
    unit = column("unit")
    unit_price = column("unit_price", Number(2, 6))
    net = column("net", Money())
    vat_category = column("vat_category")
    vat_rate = column("vat_rate", Number(2))

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("document", "session")


def billing_document_number() -> Subquery:
    """The number of the live document that bills a session (not a credit note), if any."""
    billings = (
        BilledSession.objects.filter(session=OuterRef("pk"), is_reversed=False)
        .exclude(document_kind=DocumentKind.CREDIT_NOTE)
        .order_by("-document_id")
        .values("document__display_number")
    )
    return Subquery(billings[:1])


# --- payments and open items (the accountant's reconciliation) -------------------------------


class PaymentTransactionResource(ExportResource):
    """One row per ledger transaction, with the documents its allocations paid or took back."""

    transaction_id = column("pk", Integer())
    provider = column("provider")
    provider_reference = column("provider_reference")
    kind = column("kind")
    status = column("status")
    amount = column(None, Money())
    currency = column("currency")
    method = column(None)
    value_date = column("value_date", Day())
    occurred_at_utc = column("occurred_at", Timestamp())
    customer_id = column("customer_id", Integer())
    customer_name = column(None)
    payer_name = column("payer_name")
    payer_iban = column(None)
    remittance_information = column("remittance_information")
    failure_reason = column("failure_reason")
    parent_transaction_id = column("parent_id", Integer())
    allocated = column(None, Money())
    unallocated = column(None, Money())
    document_numbers = column(None)

    @classmethod
    def prepare(cls, queryset):
        return queryset.select_related("customer").prefetch_related(
            Prefetch(
                "allocations",
                queryset=Payment.objects.select_related("document").order_by("id"),
            ),
            Prefetch(
                "children",
                queryset=PaymentTransaction.objects.filter(
                    kind=TransactionKind.REFUND,
                    status=TransactionStatus.SUCCEEDED,
                    intended_document__isnull=True,
                ),
                to_attr="credit_refunds",
            ),
        )

    def dehydrate_amount(self, entry: PaymentTransaction) -> Decimal:
        return entry.signed_amount

    def dehydrate_method(self, entry: PaymentTransaction) -> str:
        return entry.payment_method

    def dehydrate_customer_name(self, entry: PaymentTransaction) -> str:
        return str(entry.customer) if entry.customer_id else ""

    def dehydrate_payer_iban(self, entry: PaymentTransaction) -> str:
        return entry.masked_payer_iban

    def dehydrate_allocated(self, entry: PaymentTransaction) -> Decimal:
        return sum((a.amount for a in entry.allocations.all()), Decimal("0.00"))

    def dehydrate_unallocated(self, entry: PaymentTransaction) -> Decimal | None:
        """Money received that no document used nor was paid back (the customer's credit)."""
        if entry.kind not in INCOMING_KINDS or entry.status != TransactionStatus.SUCCEEDED:
            return None
        paid_back = sum((r.amount for r in entry.credit_refunds), Decimal("0.00"))
        return entry.amount - self.dehydrate_allocated(entry) - paid_back

    def dehydrate_document_numbers(self, entry: PaymentTransaction) -> str:
        numbers = dict.fromkeys(a.document.display_number for a in entry.allocations.all())
        return "; ".join(numbers)


@dataclass(frozen=True)
class OpenItem:
    """A row of the open-items list: a document still owed, or a customer's unused credit."""

    item: str
    customer_id: int | None
    customer_name: str
    document_id: int | None = None
    number: str = ""
    kind: str = ""
    status: str = ""
    issue_date: date | None = None
    due_date: date | None = None
    currency: str = ""
    total_gross: Decimal | None = None
    amount_paid: Decimal | None = None
    outstanding: Decimal = Decimal("0.00")
    days_overdue: int | None = None


class OpenItemResource(ExportResource):
    """Open items: what each customer still owes per document, and their unused credit."""

    item = column("item")
    customer_id = column("customer_id", Integer())
    customer_name = column("customer_name")
    document_id = column("document_id", Integer())
    number = column("number")
    kind = column("kind")
    status = column("status")
    issue_date = column("issue_date", Day())
    due_date = column("due_date", Day())
    currency = column("currency")
    total_gross = column("total_gross", Money())
    amount_paid = column("amount_paid", Money())
    outstanding = column("outstanding", Money())
    days_overdue = column("days_overdue", Integer())
