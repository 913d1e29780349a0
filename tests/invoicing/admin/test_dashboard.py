"""The admin front page's dashboard: its figures on a small data set, in the operator's zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from invoicing.dashboard import build_dashboard
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
    return {"march": march, "february": february, "issued": issued}


def test_months_count_sessions_energy_and_invoiced_revenue_in_operator_time(small_data):
    dashboard = build_dashboard(today=date(2026, 3, 20), month_count=3, time_zone="Europe/Berlin")

    by_month = {row["month"]: row for row in dashboard.months}
    assert list(by_month) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert by_month[date(2026, 3, 1)]["sessions"] == 2
    assert by_month[date(2026, 3, 1)]["energy_kwh"] == Decimal("30.500")
    assert by_month[date(2026, 2, 1)]["sessions"] == 1
    assert by_month[date(2026, 1, 1)]["sessions"] == 0
    issued_gross = sum(document.total_gross for document in small_data["issued"])
    assert by_month[date(2026, 3, 1)]["gross"] == issued_gross
    assert by_month[date(2026, 2, 1)]["gross"] == 0


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
