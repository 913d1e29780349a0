"""Keeps the dashboard's monthly summary tables: recomputes whole months from the sources."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth

from cpo_portal.kernel.periods import add_months, day_start, local_date
from invoicing.dashboard.models import RevenueMonth, SessionMonth
from invoicing.documents.models import DocumentLine, DocumentStatus
from sessions.models import ChargingSession

COUNTED_STATUSES = [
    DocumentStatus.ISSUED,
    DocumentStatus.PAID,
    DocumentStatus.OVERDUE,
    DocumentStatus.CREDITED,
]


@transaction.atomic
def rebuild_months(first: date, last: date, time_zone: str) -> int:
    """Replace the summary rows of the months first..last (first days) with fresh sums."""
    end = add_months(last, 1)
    SessionMonth.objects.filter(month__gte=first, month__lt=end).delete()
    RevenueMonth.objects.filter(month__gte=first, month__lt=end).delete()
    sessions = (
        ChargingSession.objects.filter(
            started_at__gte=day_start(first, time_zone), started_at__lt=day_start(end, time_zone)
        )
        .annotate(month=TruncMonth("started_at", tzinfo=ZoneInfo(time_zone)))
        .values("month", "evse__location")
        .annotate(count=Count("id"), energy=Sum("energy_kwh"))
    )
    session_rows = SessionMonth.objects.bulk_create(
        SessionMonth(
            month=local_date(row["month"], time_zone),
            location_id=row["evse__location"],
            sessions=row["count"],
            energy_kwh=row["energy"] or 0,
        )
        for row in sessions
    )
    revenue = (
        DocumentLine.objects.filter(
            document__issue_date__gte=first,
            document__issue_date__lt=end,
            document__status__in=COUNTED_STATUSES,
        )
        .annotate(month=TruncMonth("document__issue_date"))
        .values("month", "session__evse__location__country", "vat_rate", "document__currency")
        .annotate(net=Sum("net"))
    )
    revenue_rows = RevenueMonth.objects.bulk_create(
        RevenueMonth(
            month=row["month"],
            country=row["session__evse__location__country"] or "",
            vat_rate=row["vat_rate"],
            currency=row["document__currency"],
            net=row["net"] or 0,
        )
        for row in revenue
    )
    return len(session_rows) + len(revenue_rows)


def refresh_recent(today: date, time_zone: str) -> int:
    """Recompute this month and the previous one: late sessions and documents land there."""
    this_month = today.replace(day=1)
    return rebuild_months(add_months(this_month, -1), this_month, time_zone)
