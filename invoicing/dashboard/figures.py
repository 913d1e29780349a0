"""The admin dashboard's figures: revenue, energy, sessions, open amounts, runs and outbox."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from cpo_portal.kernel.periods import local_date
from customers.notifications.models import OutboundMessage
from invoicing.billing.models import BillingRun
from invoicing.dashboard.models import RevenueMonth, SessionMonth
from invoicing.documents.models import Document, DocumentStatus
from invoicing.models import Operator
from invoicing.terminals.models import MatchState, TerminalTransaction

AGE_BUCKETS = ((0, 30), (31, 60), (61, 90), (91, None))


@dataclass
class Dashboard:
    """What the admin's front page shows, computed for the operator's time zone."""

    months: list = field(default_factory=list)
    locations: list = field(default_factory=list)
    open_by_age: list = field(default_factory=list)
    billing_runs: list = field(default_factory=list)
    outbox_failed: int = 0
    currency: str = ""
    matching_rate: Decimal | None = None
    review_queue: int = 0
    revenue: list = field(default_factory=list)


def month_starts(today, count):
    """The first days of the last `count` months, oldest first, ending with today's month."""
    first = today.replace(day=1)
    months = []
    for _ in range(count):
        months.append(first)
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return months[::-1]


def operator_zone_and_currency():
    """The operator's time zone and currency (one back-office runs one operator)."""
    operator = Operator.objects.order_by("pk").first()
    if operator is None:
        return settings.TIME_ZONE, ""
    return operator.time_zone, operator.currency


def build_dashboard(today=None, month_count=12, time_zone=None):
    """Sessions, energy and invoiced net per month from the summary tables; open amounts by age."""
    zone, currency = operator_zone_and_currency()
    time_zone = time_zone or zone
    today = today or local_date(timezone.now(), time_zone)
    months = month_starts(today, month_count)
    sessions = {
        row["month"]: row
        for row in SessionMonth.objects.filter(month__gte=months[0])
        .values("month")
        .annotate(sessions=Sum("sessions"), energy=Sum("energy_kwh"))
    }
    revenue = {
        row["month"]: row["net"]
        for row in RevenueMonth.objects.filter(month__gte=months[0], currency=currency)
        .values("month")
        .annotate(net=Sum("net"))
    }
    dashboard = Dashboard(currency=currency)
    for month in months:
        row = sessions.get(month, {})
        dashboard.months.append(
            {
                "month": month,
                "sessions": row.get("sessions") or 0,
                "energy_kwh": row.get("energy") or Decimal("0"),
                "net": revenue.get(month) or Decimal("0"),
            }
        )
    dashboard.revenue = list(
        RevenueMonth.objects.filter(month__gte=months[-3]).order_by(
            "-month", "currency", "country", "vat_rate"
        )
    )
    dashboard.locations = list(
        SessionMonth.objects.filter(month__gte=months[0])
        .values("location__name", "location__country")
        .annotate(sessions=Sum("sessions"), energy=Sum("energy_kwh"))
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
    matched, dashboard.review_queue, total = receipt_matching()
    if total:
        dashboard.matching_rate = (Decimal(100) * matched / total).quantize(Decimal("0.1"))
    return dashboard


def receipt_matching() -> tuple[int, int, int]:
    """Card-terminal transactions (matched to a session by the product or by staff, waiting in
    the review queue, all)."""
    states = dict(
        TerminalTransaction.objects.values_list("match_state").annotate(count=Count("id"))
    )
    matched = states.get(MatchState.MATCHED, 0) + states.get(MatchState.CONFIRMED, 0)
    return matched, states.get(MatchState.REVIEW, 0), sum(states.values())
