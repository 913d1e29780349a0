"""The admin front page's dashboard: its figures on a small data set, in the operator's zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from invoicing.dashboard.figures import build_dashboard
from invoicing.dashboard.models import RevenueMonth
from invoicing.dashboard.summaries import rebuild_months
from invoicing.documents.issuing import issue_session_documents
from tests.invoicing.helpers import make_priced_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_data(operator, customer):
    """March 2026 (Berlin): two sessions, one starting 23:30 UTC on 28 February; February: one."""
    march = [
        make_priced_session(
            operator, customer, start=datetime.fromisoformat("2026-02-28T23:30:00+00:00")
        ),
        make_priced_session(
            operator,
            customer,
            start=datetime.fromisoformat("2026-03-10T10:00:00+00:00"),
            energy_kwh="20",
        ),
    ]
    february = make_priced_session(
        operator, customer, start=datetime.fromisoformat("2026-02-10T10:00:00+00:00")
    )
    issued = issue_session_documents(
        session_ids=[session.pk for session in march], issue_date=date(2026, 3, 12)
    )
    rebuild_months(date(2026, 1, 1), date.today().replace(day=1), "Europe/Berlin")
    return {"march": march, "february": february, "issued": issued}


def test_months_count_sessions_energy_and_invoiced_revenue_in_operator_time(small_data):
    dashboard = build_dashboard(today=date(2026, 3, 20), month_count=3, time_zone="Europe/Berlin")

    by_month = {row["month"]: row for row in dashboard.months}
    assert list(by_month) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert by_month[date(2026, 3, 1)]["sessions"] == 2
    assert by_month[date(2026, 3, 1)]["energy_kwh"] == Decimal("30.500")
    assert by_month[date(2026, 2, 1)]["sessions"] == 1
    assert by_month[date(2026, 1, 1)]["sessions"] == 0
    issued_net = sum(document.total_net for document in small_data["issued"])
    assert by_month[date(2026, 3, 1)]["net"] == issued_net
    assert by_month[date(2026, 2, 1)]["net"] == 0


def test_revenue_is_summarised_by_country_and_vat_rate(small_data):
    rows = RevenueMonth.objects.filter(month=date(2026, 3, 1))
    lines = [line for document in small_data["issued"] for line in document.lines.all()]
    assert {(row.country, row.vat_rate) for row in rows} == {
        (line.session.evse.location.country, line.vat_rate) for line in lines
    }
    assert sum(row.net for row in rows) == sum(line.net for line in lines)


def test_rebuilding_a_month_twice_gives_the_same_rows(small_data):
    before = list(RevenueMonth.objects.values_list("month", "country", "vat_rate", "net"))
    rebuild_months(date(2026, 3, 1), date(2026, 3, 1), "Europe/Berlin")
    after = list(RevenueMonth.objects.values_list("month", "country", "vat_rate", "net"))
    assert sorted(before) == sorted(after)


def test_open_amounts_fall_into_age_buckets_by_days_past_due(small_data):
    due = max(document.due_date for document in small_data["issued"])
    dashboard = build_dashboard(today=due + timedelta(days=45), time_zone="Europe/Berlin")

    unpaid = [doc for doc in small_data["issued"] if doc.status in ("issued", "overdue")]
    assert unpaid
    buckets = {(bucket["low"], bucket["high"]): bucket for bucket in dashboard.open_by_age}
    assert buckets[(31, 60)]["count"] == len(unpaid)
    assert buckets[(31, 60)]["amount"] == sum(doc.total_gross - doc.amount_paid for doc in unpaid)
    assert buckets[(0, 30)]["count"] == buckets[(61, 90)]["count"] == 0


def test_front_page_shows_charts_and_figures(admin_client, small_data):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    content = response.content.decode()
    assert content.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
    location = small_data["march"][0].evse.location
    assert f"{location.name} ({location.country})</td>" in content
    assert '<td class="number">3</td>' in content  # its three sessions
    assert "\u2013,\n      0 in review" in content  # no card payments: no rate


def test_rebuild_command_refuses_a_month_it_cannot_read(operator):
    with pytest.raises(CommandError, match="is not a month"):
        call_command("rebuild_dashboard", since="March", stdout=StringIO())


def test_rebuild_command_fills_the_summaries(small_data):
    RevenueMonth.objects.all().delete()
    out = StringIO()
    call_command("rebuild_dashboard", since="2026-01", stdout=out)
    assert "Rebuilt 2026-01" in out.getvalue()
    assert RevenueMonth.objects.filter(month=date(2026, 3, 1)).exists()


def test_beat_refreshes_this_and_last_month(operator, customer):
    from django_celery_beat.models import PeriodicTask

    from invoicing.tasks import refresh_dashboard

    assert PeriodicTask.objects.filter(task="invoicing.refresh_dashboard").exists()
    make_priced_session(operator, customer, start=timezone.now() - timedelta(hours=2))
    refresh_dashboard()
    recent = build_dashboard(time_zone=operator.time_zone).months[-2:]
    assert sum(month["sessions"] for month in recent) == 1
