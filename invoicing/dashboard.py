"""The admin dashboard's figures: revenue, energy, sessions, open amounts, runs and outbox."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from cpo_portal.kernel.periods import day_start, local_date
from customers.notifications.models import OutboundMessage
from invoicing.billing.models import BillingRun
from invoicing.documents.models import Document, DocumentStatus
from invoicing.models import Operator
from sessions.models import ChargingSession

AGE_BUCKETS = ((0, 30), (31, 60), (61, 90), (91, None))


@dataclass
class Dashboard:
    """What the admin's front page shows, computed for the operator's time zone."""

    months: list = field(default_factory=list)
    locations: list = field(default_factory=list)
    open_by_age: list = field(default_factory=list)
    billing_runs: list = field(default_factory=list)
    outbox_failed: int = 0


def month_starts(today, count):
    """The first days of the last `count` months, oldest first, ending with today's month."""
    first = today.replace(day=1)
    months = []
    for _ in range(count):
        months.append(first)
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return months[::-1]


def operator_zone():
    """The operator's time zone (the first operator's: one back-office runs one operator)."""
    operator = Operator.objects.order_by("pk").first()
    return operator.time_zone if operator else settings.TIME_ZONE


def build_dashboard(today=None, month_count=12, time_zone=None):
    """Sessions, energy and issued revenue per month; open amounts by days past due."""
    time_zone = time_zone or operator_zone()
    today = today or local_date(timezone.now(), time_zone)
    months = month_starts(today, month_count)
    since = day_start(months[0], time_zone)
    per_month = {
        local_date(row["month"], time_zone): row
        for row in ChargingSession.objects.filter(started_at__gte=since)
        .annotate(month=TruncMonth("started_at", tzinfo=ZoneInfo(time_zone)))
        .values("month")
        .annotate(sessions=Count("id"), energy=Sum("energy_kwh"))
    }
    revenue = {
        row["month"]: row["gross"]
        for row in Document.objects.filter(issue_date__gte=months[0])
        .exclude(status__in=[DocumentStatus.DRAFT, DocumentStatus.WITHDRAWN])
        .annotate(month=TruncMonth("issue_date"))
        .values("month")
        .annotate(gross=Sum("total_gross"))
    }
    dashboard = Dashboard()
    for month in months:
        row = per_month.get(month, {})
        dashboard.months.append(
            {
                "month": month,
                "sessions": row.get("sessions", 0),
                "energy_kwh": row.get("energy") or Decimal("0"),
                "gross": revenue.get(month) or Decimal("0"),
            }
        )
    dashboard.locations = list(
        ChargingSession.objects.filter(started_at__gte=since)
        .values("evse__location__name", "evse__location__country")
        .annotate(sessions=Count("id"), energy=Sum("energy_kwh"))
        .order_by("-sessions")[:10]
    )
    open_docs = Document.objects.filter(status__in=[DocumentStatus.ISSUED, DocumentStatus.OVERDUE])
    for low, high in AGE_BUCKETS:
        docs = open_docs.filter(due_date__lte=today - datetime.timedelta(days=low))
        if high is not None:
            docs = docs.filter(due_date__gte=today - datetime.timedelta(days=high))
        totals = docs.aggregate(
            count=Count("id"), gross=Sum("total_gross"), paid=Sum("amount_paid")
        )
        open_amount = (totals["gross"] or Decimal("0")) - (totals["paid"] or Decimal("0"))
        dashboard.open_by_age.append(
            {"low": low, "high": high, "count": totals["count"], "amount": open_amount}
        )
    dashboard.billing_runs = list(BillingRun.objects.order_by("-period", "-created_at")[:6])
    dashboard.outbox_failed = OutboundMessage.objects.filter(
        status=OutboundMessage.Status.FAILED
    ).count()
    return dashboard
