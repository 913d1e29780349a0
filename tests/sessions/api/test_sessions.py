"""Sessions through the API: native records and CDRs in, priced breakdown out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from invoicing.models import Document, InvoicingSettings
from sessions.models import ChargingSession
from tests.factories import ChargingTokenFactory, CustomerFactory, EVSEFactory
from tests.invoicing.helpers import helper_evse, helper_tariff, issue_invoice_for

SESSIONS = "/api/v1/sessions/"


@pytest.fixture
def evse(operator):
    return helper_evse(operator)


@pytest.fixture
def tariff(operator):
    return helper_tariff(operator)


def native(evse, tariff, source_id="TX-1", **overrides):
    return {
        "source_id": source_id,
        "evse_id": evse.evse_id,
        "tariff_id": tariff.ocpi_id,
        "start": "2026-03-02T10:00:00+01:00",
        "end": "2026-03-02T11:00:00+01:00",
        "energy_kwh": "10.5",
        **overrides,
    }


def cdr(evse, tariff, cdr_id="CDR-1"):
    return {
        "id": cdr_id,
        "start_date_time": "2026-03-02T09:00:00Z",
        "end_date_time": "2026-03-02T10:00:00Z",
        "currency": "EUR",
        "cdr_location": {"evse_id": evse.evse_id},
        "charging_periods": [
            {
                "start_date_time": "2026-03-02T09:00:00Z",
                "tariff_id": tariff.ocpi_id,
                "dimensions": [{"type": "ENERGY", "volume": 10.5}],
            }
        ],
    }


def test_a_native_record_is_priced_and_answered_with_its_breakdown(api, operator, evse, tariff):
    customer = CustomerFactory(operator=operator)
    token = ChargingTokenFactory(customer=customer, uid="04AA")

    response = api.post(SESSIONS, native(evse, tariff, token_uid="04AA"))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["total_net"], body["total_vat"], body["total_gross"]) == ("4.20", "0.80", "5.00")
    assert body["energy_kwh"] == "10.500"
    assert body["breakdown"] == [
        {
            "position": 1,
            "component": "energy",
            "quantity": "10.500",
            "unit": "kWh",
            "unit_price": "0.400000",
            "net": "4.20",
            "vat_category": "electricity",
            "vat_rate": "19.00",
            "vat": "0.80",
            "gross": "5.00",
        }
    ]
    assert body["customer"]["id"] == customer.pk
    assert body["customer"]["email"] == customer.email
    assert body["token"] == {"id": token.pk, "kind": "rfid", "uid": "04AA"}
    assert (body["invoiced"], body["documents"]) == (False, [])
    session = ChargingSession.objects.get(pk=body["id"])
    assert session.source == api_source(operator)


def api_source(operator) -> str:
    return operator.integrators.get().session_source


def test_sending_a_session_again_returns_the_stored_one_unchanged(api, evse, tariff):
    first = api.post(SESSIONS, native(evse, tariff))
    again = api.post(SESSIONS, native(evse, tariff, energy_kwh="99"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["energy_kwh"] == "10.500"


def test_a_refused_session_gets_one_message_per_field_and_stores_nothing(api, evse, tariff):
    response = api.post(SESSIONS, native(evse, tariff, evse_id="XX*1", start="2026-03-02T10:00:00"))

    assert response.status_code == 400
    assert response.json() == {"start": ["Must include a time-zone offset (Z or +01:00)."]}
    unknown = api.post(SESSIONS, native(evse, tariff, evse_id="XX*1"))
    assert unknown.json() == {"evse_id": ["Unknown EVSE “XX*1”."]}
    assert not ChargingSession.objects.exists()


def test_another_operators_customer_cannot_be_named(api, other_operator, evse, tariff):
    theirs = CustomerFactory(operator=other_operator)

    response = api.post(SESSIONS, native(evse, tariff, customer_id=theirs.pk))

    assert response.status_code == 400
    assert set(response.json()) == {"customer_id"}


def test_another_operators_evse_is_unknown(api, other_operator, tariff):
    theirs = EVSEFactory(location__operator=other_operator)

    response = api.post(SESSIONS, native(theirs, tariff))

    assert response.json() == {"evse_id": [f"Unknown EVSE “{theirs.evse_id}”."]}


def test_an_ocpi_cdr_is_priced_from_its_periods(api, evse, tariff):
    response = api.post(f"{SESSIONS}cdrs/", cdr(evse, tariff))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["source_id"], body["total_gross"]) == ("CDR-1", "5.00")
    assert ChargingSession.objects.get(pk=body["id"]).payload_format == "ocpi_cdr"


def test_a_bulk_request_reports_every_item_on_its_own(api, evse, tariff):
    api.post(SESSIONS, native(evse, tariff, source_id="OLD"))

    response = api.post(
        f"{SESSIONS}bulk/",
        {
            "format": "native",
            "sessions": [
                native(evse, tariff, source_id="NEW"),
                native(evse, tariff, source_id="OLD"),
                native(evse, tariff, source_id="BAD", evse_id="XX*1"),
                "not an object",
                native(evse, tariff, source_id="NUL\x00"),
            ],
        },
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (1, 1, 3)
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "created"),
        (1, "duplicate"),
        (2, "rejected"),
        (3, "rejected"),
        (4, "rejected"),
    ]
    assert body["results"][2]["errors"] == {"evse_id": ["Unknown EVSE “XX*1”."]}
    assert body["results"][0]["errors"] == {}
    assert set(ChargingSession.objects.values_list("source_id", flat=True)) == {"OLD", "NEW"}


def test_a_bulk_of_cdrs(api, evse, tariff):
    response = api.post(
        f"{SESSIONS}bulk/",
        {"format": "ocpi_cdr", "sessions": [cdr(evse, tariff, "C1"), cdr(evse, tariff, "C2")]},
    )

    assert response.json()["created"] == 2


def test_a_bulk_request_is_limited_to_1000_items(api):
    response = api.post(f"{SESSIONS}bulk/", {"sessions": [{}] * 1001})

    assert response.status_code == 400
    assert set(response.json()) == {"sessions"}


def test_the_list_filters_by_period_customer_location_status_and_invoiced(
    api, operator, evse, tariff
):
    ada = CustomerFactory(operator=operator)
    elsewhere = EVSEFactory(location__operator=operator)
    march = api.post(SESSIONS, native(evse, tariff, source_id="M", customer_id=ada.pk)).json()
    april = api.post(
        SESSIONS,
        native(
            elsewhere,
            tariff,
            source_id="A",
            start="2026-04-01T00:30:00+02:00",
            end="2026-04-01T01:30:00+02:00",
        ),
    ).json()

    def ids(**params):
        response = api.get(SESSIONS, params)
        assert response.status_code == 200, response.json()
        return [s["id"] for s in response.json()["results"]]

    assert ids() == [april["id"], march["id"]]
    assert ids(period="2026-03") == [march["id"]]
    # 2026-04-01T01:30+02:00 is still March in UTC, but April for a Berlin operator.
    assert ids(period="2026-04") == [april["id"]]
    assert ids(customer=ada.pk) == [march["id"]]
    assert ids(location=elsewhere.location_id) == [april["id"]]
    assert ids(evse_id=evse.evse_id) == [march["id"]]
    assert ids(status="completed") == [april["id"], march["id"]]
    assert ids(invoiced="false") == [april["id"], march["id"]]
    assert ids(invoiced="true") == []
    assert ids(ended_after="2026-03-31T12:00:00Z") == [april["id"]]
    not_a_month = api.get(SESSIONS, {"period": "2026-13"})
    assert not_a_month.status_code == 400
    assert not_a_month.json() == {
        "period": ["“2026-13” is not a month; write it as YYYY-MM, e.g. 2026-10."]
    }
    assert ids(source_id="M") == [march["id"]]


def test_bad_filters_are_400_not_500(api):
    for params in (
        {"period": "2026-13"},
        {"period": "9999-12"},
        {"customer": "99999999999999999999999"},
        {"ended_after": "yesterday"},
        {"cursor": "garbage"},
    ):
        response = api.get(SESSIONS, params)
        assert response.status_code == 400, (params, response.content)


def test_an_invoiced_session_names_its_document(api, operator, per_session_customer):
    document = issue_invoice_for(per_session_customer)
    (session,) = ChargingSession.objects.filter(customer=per_session_customer)

    body = api.get(f"{SESSIONS}{session.pk}/").json()

    assert body["invoiced"] is True
    assert body["documents"] == [
        {
            "id": document.pk,
            "number": document.display_number,
            "kind": "invoice",
            "status": "issued",
            "reversed": False,
        }
    ]
    assert [s["id"] for s in api.get(SESSIONS, {"invoice": document.pk}).json()["results"]] == [
        session.pk
    ]


def test_a_page_of_sessions_costs_the_same_queries_whatever_its_size(api, operator, evse, tariff):
    customers = [CustomerFactory(operator=operator) for _ in range(3)]

    def queries_for_a_page(count: int) -> int:
        ChargingSession.objects.all().delete()
        for n in range(count):
            api.post(
                SESSIONS,
                native(
                    evse,
                    tariff,
                    source_id=f"Q{count}-{n}",
                    customer_id=customers[n % 3].pk,
                ),
            )
        with CaptureQueriesContext(connection) as captured:
            assert len(api.get(SESSIONS).json()["results"]) == count
        return len(captured)

    assert queries_for_a_page(2) == queries_for_a_page(12)


def test_pages_follow_the_next_cursor_without_gaps_or_repeats(api, evse, tariff):
    for n in range(7):
        api.post(SESSIONS, native(evse, tariff, source_id=f"P{n}"))

    seen, url = [], SESSIONS + "?page_size=3"
    while url:
        page = api.client.get(url, headers=api.headers()).json()
        seen += [s["source_id"] for s in page["results"]]
        url = page["next"]

    assert sorted(seen) == [f"P{n}" for n in range(7)]
    assert len(seen) == 7


def test_collect_only_issues_nothing_and_the_api_has_what_an_external_system_needs(
    api, operator, evse, tariff, invoicing_settings
):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.COLLECT_ONLY
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    company = Customer.objects.create(
        operator=operator,
        kind=Customer.Kind.COMPANY,
        company_name="Fleet GmbH",
        vat_id="DE136695976",
        street="Hauptstraße 5",
        postal_code="10115",
        city="Berlin",
        country="DE",
        email="fleet@example.org",
        requires_invoice=True,
        billing_mode="per_session",
    )

    created = api.post(SESSIONS, native(evse, tariff, customer_id=company.pk))

    assert created.status_code == 201
    assert not Document.objects.exists()
    listed = api.get(SESSIONS, {"invoiced": "false", "customer": company.pk}).json()["results"]
    (session,) = listed
    assert session["customer"]["vat_id"] == "DE136695976"
    assert session["customer"]["invoice_detail_errors"] == {}
    assert session["breakdown"][0]["net"] == "4.20"
    assert session["ended_at"] == datetime(2026, 3, 2, 10, tzinfo=UTC).isoformat().replace(
        "+00:00", "Z"
    )


def test_a_listed_session_says_exactly_what_its_detail_says(
    api, operator, evse, tariff, per_session_customer
):
    issue_invoice_for(per_session_customer)
    billed = ChargingSession.objects.get(customer=per_session_customer)
    token_customer = CustomerFactory(operator=operator, vat_id="", street="")
    api.post("/api/v1/tokens/", {"customer": token_customer.pk, "kind": "rfid", "uid": "04LIST"})
    api.post(SESSIONS, native(evse, tariff, source_id="L-1", token_uid="04LIST", idle_minutes=5))
    api.post(SESSIONS, native(evse, tariff, source_id="L-2", ad_hoc_email="ad.hoc@example.org"))
    api.post(SESSIONS, native(evse, tariff, source_id="L-3"))

    listed = api.get(SESSIONS).json()["results"]

    assert len(listed) == 4 and listed[-1]["id"] == billed.pk
    for row in listed:
        assert row == api.get(f"{SESSIONS}{row['id']}/").json()
    assert listed[2]["token"]["uid"] == "04LIST"
    assert listed[-1]["documents"][0]["kind"] == "invoice"
