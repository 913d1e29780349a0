"""The session list at ten million rows: date range, location picked in an autocomplete box,
invoiced or not, index-friendly search, and a constant number of queries per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cpo_portal.kernel.admin.export_jobs import job_queryset
from cpo_portal.kernel.exports.models import ExportJob
from sessions.models import ChargingSession
from sessions.services import tariff_snapshots
from tests.factories import (
    ChargingSessionFactory,
    CustomerFactory,
    EVSEFactory,
    TariffFactory,
)
from tests.invoicing.helpers import issue_invoice_for, make_priced_session

pytestmark = pytest.mark.django_db

LIST_URL = "admin:charging_chargingsession_changelist"
MARCH_1 = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def evse(operator):
    return EVSEFactory(location__operator=operator, location__name="Alexanderplatz")


@pytest.fixture
def customer(operator):
    return CustomerFactory(operator=operator, email="ann@example.org")


def add_sessions(count, *, evse, customer, start=MARCH_1, step=timedelta(days=1), prefix="S"):
    """Completed sessions, one per `step` from `start`, bulk inserted."""
    operator = evse.location.operator
    tariff = TariffFactory(operator=operator)
    snapshot = tariff_snapshots({tariff.ocpi_json})[tariff.ocpi_json]
    rows = [
        ChargingSessionFactory.build(
            operator=operator,
            evse=evse,
            customer=customer,
            tariff=tariff,
            tariff_snapshot=snapshot,
            source_id=f"{prefix}{n:05d}",
            started_at=start + n * step,
        )
        for n in range(count)
    ]
    return ChargingSession.objects.bulk_create(rows)


def listed(client, **params) -> list[ChargingSession]:
    response = client.get(reverse(LIST_URL), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def source_ids(sessions) -> list[str]:
    return sorted(s.source_id for s in sessions)


# --- filters -------------------------------------------------------------------------------


def test_sessions_are_filtered_by_a_range_of_start_days_on_the_operators_clock(
    admin_client, evse, customer
):
    add_sessions(5, evse=evse, customer=customer)  # March 1st to 5th, 10:00 UTC
    # 23:59 UTC on 1 March is 00:59 on 2 March in Berlin, the operator's clock the admin reads.
    add_sessions(
        1, evse=evse, customer=customer, start=MARCH_1.replace(hour=23, minute=59), prefix="L"
    )
    add_sessions(1, evse=evse, customer=customer, start=MARCH_1.replace(day=4, hour=0), prefix="M")

    shown = listed(admin_client, started_at__gte="2026-03-02", started_at__lte="2026-03-03")

    assert source_ids(shown) == ["L00000", "S00001", "S00002"]
    assert source_ids(listed(admin_client, started_at__lte="2026-03-01")) == ["S00000"]
    assert len(listed(admin_client, started_at__gte="2026-03-04")) == 3


def test_a_queued_export_keeps_the_operators_days_the_list_filtered_by(
    admin_client, admin_user, evse, customer
):
    add_sessions(3, evse=evse, customer=customer)  # March 1st to 3rd, 10:00 UTC
    add_sessions(
        1, evse=evse, customer=customer, start=MARCH_1.replace(hour=23, minute=59), prefix="L"
    )
    query = "started_at__gte=2026-03-02&started_at__lte=2026-03-02"
    job = ExportJob.objects.create(
        requested_by=admin_user,
        what="sessions",
        format="csv",
        filters={"model": "charging.chargingsession", "query": query, "selected": None},
    )

    shown = listed(admin_client, started_at__gte="2026-03-02", started_at__lte="2026-03-02")

    assert source_ids(job_queryset(job)) == source_ids(shown) == ["L00000", "S00001"]


def test_the_location_filter_is_an_autocomplete_box_and_filters_by_location(
    admin_client, operator, evse, customer
):
    elsewhere = EVSEFactory(location__operator=operator, location__name="Potsdamer Platz")
    add_sessions(2, evse=evse, customer=customer, prefix="A")
    add_sessions(3, evse=elsewhere, customer=customer, prefix="P")
    location = elsewhere.location

    response = admin_client.get(reverse(LIST_URL), {"location": location.pk, "q": "P"})
    shown = response.context["cl"].result_list

    assert source_ids(shown) == ["P00000", "P00001", "P00002"]
    text = response.text
    assert 'data-model-name="evse"' in text and 'data-field-name="location"' in text
    assert f'<option value="{location.pk}" selected>{location}</option>' in text
    assert '<input type="hidden" name="q" value="P">' in text  # the search stays
    assert "Alexanderplatz" not in text  # no link per location
    assert "admin/js/autocomplete.js" in text and "cpo_admin/autocomplete_filter.js" in text

    answer = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "potsdamer",
            "app_label": "charging",
            "model_name": "evse",
            "field_name": "location",
        },
    )
    assert [r["id"] for r in answer.json()["results"]] == [str(location.pk)]


def test_an_unknown_location_value_is_refused_not_a_server_error(admin_client, evse):
    response = admin_client.get(reverse(LIST_URL), {"location": "Berlin"})

    assert response.status_code == 302
    assert response.url.endswith("?e=1")


def test_staff_who_cannot_view_locations_get_no_location_box(client, django_user_model, evse):
    user = django_user_model.objects.create_user("clerk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_chargingsession"))
    client.force_login(user)

    response = client.get(reverse(LIST_URL))

    assert response.status_code == 200
    assert 'data-field-name="location"' not in response.text


def test_unbilled_sessions_of_a_date_range(admin_client, operator):
    customer = CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    billed = issue_invoice_for(customer, start=MARCH_1).billed_sessions.get().session
    unbilled = make_priced_session(operator, customer, start=MARCH_1 + timedelta(hours=2))
    make_priced_session(operator, customer, start=MARCH_1 + timedelta(days=3))

    params = {"started_at__gte": "2026-03-01", "started_at__lte": "2026-03-01"}
    assert listed(admin_client, invoiced="no", **params) == [unbilled]
    assert listed(admin_client, invoiced="yes", **params) == [billed]


# --- search --------------------------------------------------------------------------------


def test_sessions_are_found_by_source_id_evse_id_or_customer_email(
    admin_client, operator, evse, customer
):
    other_evse = EVSEFactory(location__operator=operator)
    add_sessions(2, evse=evse, customer=customer, prefix="CDR-7")
    add_sessions(1, evse=other_evse, customer=CustomerFactory(operator=operator), prefix="X")

    assert source_ids(listed(admin_client, q="CDR-7")) == ["CDR-700000", "CDR-700001"]
    assert source_ids(listed(admin_client, q=other_evse.evse_id.lower())) == ["X00000"]
    assert len(listed(admin_client, q="ann@example.org")) == 2
    assert len(listed(admin_client, q="Ann@Example.ORG")) == 2  # stored in lower case
    assert listed(admin_client, q="00001") == []  # the middle of a source ID is not searched


# --- queries per page ----------------------------------------------------------------------


def test_the_session_list_runs_the_same_queries_for_20_or_200_sessions(
    admin_client, evse, customer, django_assert_num_queries
):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    add_sessions(20, evse=evse, customer=customer, start=start, step=timedelta(minutes=10))
    filters = {
        "started_at__gte": "2026-03-01",
        "status__exact": "completed",
        "invoiced": "no",
        "location": evse.location_id,
        "q": "S",
    }
    with CaptureQueriesContext(connection) as filtered:
        assert len(listed(admin_client, **filters)) == 20
    with CaptureQueriesContext(connection) as plain:
        listed(admin_client)

    add_sessions(180, evse=evse, customer=customer, start=start, prefix="S1")
    with django_assert_num_queries(len(filtered.captured_queries)):
        shown = listed(admin_client, **filters)
    with django_assert_num_queries(len(plain.captured_queries)):
        second = listed(admin_client, p="2")

    assert len(shown) == 100  # a page
    assert len(second) == 100


def test_no_query_of_the_session_list_is_a_distinct_over_sessions(admin_client, evse, customer):
    add_sessions(3, evse=evse, customer=customer)

    with CaptureQueriesContext(connection) as page:
        response = admin_client.get(reverse(LIST_URL))

    assert response.context["cl"].date_hierarchy is None
    assert not [
        q["sql"]
        for q in page.captured_queries
        if "DISTINCT" in q["sql"].upper() and "charging_chargingsession" in q["sql"]
    ]
