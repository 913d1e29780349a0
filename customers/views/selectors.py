"""Reads scoped to one customer: what the portal shows a signed-in driver, and nothing else.

Every function takes the customer as a required keyword, so a view cannot forget the scope: an
id that belongs to another customer simply is not found (the portal answers 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Prefetch, QuerySet, Sum

from customers.models import Customer, Subscription, SubscriptionPeriod
from invoicing.models import Document, DocumentFile, DocumentStatus, InvoicingSettings
from sessions.models import ChargingSession


def operator_settings(*, customer: Customer) -> InvoicingSettings | None:
    """The invoicing settings of the customer's operator, or None while there are none."""
    try:
        return customer.operator.invoicing_settings
    except InvoicingSettings.DoesNotExist:
        return None


def hides_energy(*, customer: Customer) -> bool:
    """Whether the operator may not sell electricity here: no kWh anywhere in the portal."""
    settings = operator_settings(customer=customer)
    return bool(settings and settings.hide_energy)


def services_label(*, customer: Customer) -> str:
    """What charging is called where energy is hidden (the operator's label or the default)."""
    settings = operator_settings(customer=customer)
    return (settings.services_label if settings else "") or "EV Charging Services"


# --- sessions --------------------------------------------------------------------------------


def sessions_of(*, customer: Customer) -> QuerySet[ChargingSession]:
    """The customer's charging sessions, newest first, with their location for lists."""
    return (
        ChargingSession.objects.filter(customer=customer)
        .select_related("evse__location")
        .order_by("-started_at", "-id")
    )


def session_of(*, customer: Customer, session_id: int) -> ChargingSession:
    """One of the customer's sessions with its breakdown; DoesNotExist for anyone else's."""
    return sessions_of(customer=customer).prefetch_related("charge_lines").get(pk=session_id)


def documents_of_session(*, customer: Customer, session: ChargingSession) -> QuerySet[Document]:
    """The customer's issued documents that bill (or credit) this session."""
    return (
        documents_of(customer=customer)
        .filter(billed_sessions__session=session)
        .distinct()
        .order_by("issue_date", "id")
    )


# --- documents -------------------------------------------------------------------------------


def documents_of(*, customer: Customer) -> QuerySet[Document]:
    """The customer's issued documents (drafts exist only inside a transaction), newest first,
    with the documents they correct or that correct them."""
    return (
        Document.objects.filter(customer=customer)
        .exclude(status=DocumentStatus.DRAFT)
        .select_related("credited_document")
        .prefetch_related(
            Prefetch(
                "credit_notes",
                queryset=Document.objects.filter(customer=customer).exclude(
                    status=DocumentStatus.DRAFT
                ),
            )
        )
        .order_by("-issue_date", "-id")
    )


def document_of(*, customer: Customer, document_id: int) -> Document:
    """One of the customer's issued documents with its lines; DoesNotExist for anyone else's."""
    return documents_of(customer=customer).prefetch_related("lines").get(pk=document_id)


def latest_pdf_of(*, customer: Customer, document_id: int) -> DocumentFile | None:
    """The newest stored PDF of one of the customer's documents, or None while it renders.

    Raises Document.DoesNotExist when the document is not the customer's.
    """
    document = documents_of(customer=customer).get(pk=document_id)
    return document.files.select_related("document").order_by("-revision").first()


def sessions_of_document(*, customer: Customer, document: Document) -> QuerySet[ChargingSession]:
    """The sessions a document bills, as far as they are the customer's own."""
    return sessions_of(customer=customer).filter(billings__document=document).distinct()


@dataclass(frozen=True)
class OpenBalance:
    """What a customer still owes: documents not paid yet, and how many of them are overdue."""

    open_count: int
    overdue_count: int
    totals: dict[str, object]  # currency -> outstanding amount


def open_balance(*, customer: Customer) -> OpenBalance:
    """Unpaid invoices and receipts of the customer, summed per currency."""
    unpaid = documents_of(customer=customer).filter(
        status__in=(DocumentStatus.ISSUED, DocumentStatus.OVERDUE), total_gross__gt=0
    )
    rows = (
        unpaid.order_by()
        .values("currency")
        .annotate(gross=Sum("total_gross"), paid=Sum("amount_paid"), count=Count("id"))
    )
    totals = {row["currency"]: row["gross"] - row["paid"] for row in rows}
    return OpenBalance(
        open_count=sum(row["count"] for row in rows),
        overdue_count=unpaid.filter(status=DocumentStatus.OVERDUE).count(),
        totals=totals,
    )


# --- subscription ----------------------------------------------------------------------------


def live_subscription_of(*, customer: Customer) -> Subscription | None:
    """The customer's active, past-due or suspended subscription, if there is one."""
    return (
        Subscription.objects.filter(customer=customer, status__in=Subscription.LIVE)
        .select_related("plan")
        .first()
    )


def billed_periods_of(
    *, customer: Customer, subscription: Subscription
) -> QuerySet[SubscriptionPeriod]:
    """The subscription's billed periods with their invoices, newest first."""
    return (
        SubscriptionPeriod.objects.filter(
            subscription=subscription, subscription__customer=customer
        )
        .select_related("document")
        .order_by("-start")
    )


def suspension_date(*, subscription: Subscription, periods) -> date | None:
    """The day charging is blocked if the oldest overdue invoice of a past-due subscription
    stays unpaid (the daily check suspends once the days after the due date are exceeded)."""
    overdue = [p.document for p in periods if p.document.status == DocumentStatus.OVERDUE]
    if subscription.status != Subscription.Status.PAST_DUE or not overdue:
        return None
    oldest_due = min(document.due_date for document in overdue)
    return oldest_due + timedelta(days=subscription.plan.suspend_after_days + 1)
