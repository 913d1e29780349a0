"""Reminders before an open invoice's due date, through the outbox: once per invoice."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone, translation

from cpo_portal.kernel import formatting
from cpo_portal.kernel.links import short_link
from cpo_portal.kernel.periods import today_for
from customers.models import SubscriptionPeriod
from customers.notifications.models import OutboundMessage
from customers.notifications.outbox import notify
from invoicing.documents.models import Document, DocumentStatus
from invoicing.documents.receipts import asks_for_payment
from invoicing.output import pay_links
from invoicing.setup.models import DocumentKind


def due_context(document: Document) -> dict:
    """What a reminder, an overdue notice or a suspension says about the invoice, formatted
    in the invoice's language."""
    supplier = document.profile.supplier
    with translation.override(document.language or None):
        return {
            "customer_name": document.recipient_name or document.customer.display_name,
            "operator_name": supplier.get("name") or supplier.get("legal_name", ""),
            "number": document.display_number,
            "due_date": formatting.long_date(document.due_date) if document.due_date else "",
            "amount": formatting.amount(document.outstanding, document.currency),
            "pay_link": pay_links.url(document),
            # Texts carry no attachments: the portal's page of the invoice.
            "link": short_link(reverse("portal:invoice", args=[document.pk]))
            if document.customer.mobile_phone and settings.PUBLIC_BASE_URL
            else "",
        }


def remind_due_invoices(*, today: date | None = None) -> int:
    """Daily: tell the customer of each open invoice due within PAYMENT_REMINDER_DAYS (in the
    operator's time zone) once. Subscription invoices follow their plan's reminder days
    (invoicing/subscriptions/lifecycle.py). Returns how many invoices were reminded."""
    days = settings.PAYMENT_REMINDER_DAYS
    if days <= 0:
        return 0
    # The widest window over every time zone; each invoice is then checked against its own day.
    around = today or timezone.now().date()
    reminded = OutboundMessage.objects.filter(
        event="payment_due_soon",
        regarding=Concat(Value("document:"), Cast(OuterRef("pk"), CharField())),
    )
    candidates = (
        Document.objects.filter(
            status=DocumentStatus.ISSUED,
            kind=DocumentKind.INVOICE,
            due_date__gte=around - timedelta(days=1),
            due_date__lte=around + timedelta(days=days + 1),
        )
        .exclude(Exists(SubscriptionPeriod.objects.filter(document=OuterRef("pk"))))
        .exclude(Exists(reminded))
        .select_related("customer__operator", "profile")
        .order_by("due_date", "pk")
    )
    count = 0
    for document in candidates.iterator(chunk_size=500):
        day = today or today_for(document.customer.operator)
        if not day <= document.due_date <= day + timedelta(days=days):
            continue
        if not asks_for_payment(document):
            continue
        count += bool(
            notify(
                event="payment_due_soon",
                customer=document.customer,
                context=due_context(document),
                email=document.recipient_email,
                language=document.language,
                regarding=f"document:{document.pk}",
                dedupe_key=f"payment_due_soon:document:{document.pk}",
            )
        )
    return count
