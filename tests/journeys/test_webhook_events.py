"""Real changes put their events in the webhook outbox: ingest, issue, pay, credit, overdue."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from invoicing.documents.actions import DocumentActionRefused
from invoicing.documents.issuing import InvoicingError, issue_credit_note, mark_overdue_documents
from invoicing.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from invoicing.payments.recording import record_payment
from sessions.events import session_payloads
from sessions.services import reprice_session
from tests.factories import CustomerFactory
from tests.invoicing.helpers import (
    helper_evse,
    helper_tariff,
    issue_invoice_for,
    make_priced_session,
)


@pytest.fixture
def endpoint(integrator) -> WebhookEndpoint:
    # Nothing listens there: these tests read the outbox, delivery is tested in test_webhooks.
    return WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")


def events(event_type: str | None = None) -> list[tuple[str, dict]]:
    """(type, data) of the events in the outbox, oldest first."""
    rows = WebhookEvent.objects.order_by("pk")
    if event_type:
        rows = rows.filter(type=event_type)
    return [(row.type, json.loads(row.body)["data"]) for row in rows]


def test_sessions_ingested_through_the_api_are_announced_as_priced(api, operator, endpoint):
    evse, tariff = helper_evse(operator), helper_tariff(operator)
    customer = CustomerFactory(operator=operator)

    def item(source_id, **overrides):
        return {
            "source_id": source_id,
            "evse_id": evse.evse_id,
            "tariff_id": tariff.ocpi_id,
            "start": "2026-03-02T10:00:00+01:00",
            "end": "2026-03-02T11:00:00+01:00",
            "energy_kwh": "10.5",
            "customer_id": customer.pk,
            **overrides,
        }

    first = api.post("/api/v1/sessions/bulk/", {"sessions": [item("A"), item("B")]})
    again = api.post("/api/v1/sessions/bulk/", {"sessions": [item("A"), item("C", evse_id="NOPE")]})

    assert first.status_code == again.status_code == 200
    priced = events("session.priced")
    assert [data["source_id"] for _type, data in priced] == ["A", "B"]
    assert [data["id"] for _type, data in priced] == [
        r["session_id"] for r in first.json()["results"]
    ]
    assert priced[0][1]["customer_id"] == customer.pk
    assert Decimal(priced[0][1]["total_gross"]) > 0
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_a_bulk_of_sessions_is_announced_as_its_sessions_read_back_show(api, operator, endpoint):
    """The events of a bulk are built from the sessions just stored, not read back: same bytes."""
    evse, tariff = helper_evse(operator), helper_tariff(operator)
    customer = CustomerFactory(operator=operator)
    sessions = [
        {
            "source_id": f"S{n}",
            "evse_id": evse.evse_id,
            "tariff_id": tariff.ocpi_id,
            "start": "2026-03-02T10:00:00+01:00",
            "end": f"2026-03-02T1{n + 1}:07:00+01:00",
            # More places than the column keeps (3): the event shows the stored, rounded value.
            "energy_kwh": energy,
            "customer_id": customer.pk,
        }
        for n, energy in enumerate(["10.5", "7.0005", "3.12345"])
    ]

    response = api.post("/api/v1/sessions/bulk/", {"sessions": sessions})

    assert response.status_code == 200
    announced = {data["id"]: data for _type, data in events("session.priced")}
    read_back = session_payloads("session.priced", list(announced), operator.pk)
    assert announced == read_back
    assert [announced[r["session_id"]]["energy_kwh"] for r in response.json()["results"]] == [
        "10.500",
        "7.001",
        "3.123",
    ]


def test_issuing_paying_and_going_overdue_are_each_announced_once(
    operator, endpoint, per_session_customer
):
    paid = issue_invoice_for(per_session_customer)
    unpaid = issue_invoice_for(per_session_customer)

    record_payment(document=paid, amount=Decimal("1.00"), paid_on=paid.issue_date)
    assert events("invoice.paid") == []  # partly paid is not paid
    record_payment(document=paid, amount=paid.total_gross - 1, paid_on=paid.issue_date)
    with pytest.raises(DocumentActionRefused):
        record_payment(document=paid, amount=Decimal("1.00"), paid_on=paid.issue_date)
    after_due = unpaid.due_date + timedelta(days=1)
    mark_overdue_documents(today=after_due)
    mark_overdue_documents(today=after_due)

    issued = events("invoice.issued")
    assert [(data["id"], data["number"]) for _t, data in issued] == [
        (paid.pk, paid.display_number),
        (unpaid.pk, unpaid.display_number),
    ]
    assert issued[0][1]["status"] == "issued"
    ((_t, paid_data),) = events("invoice.paid")
    assert (paid_data["id"], paid_data["status"], paid_data["outstanding"]) == (
        paid.pk,
        "paid",
        "0.00",
    )
    ((_t, overdue_data),) = events("invoice.overdue")
    assert (overdue_data["id"], overdue_data["status"]) == (unpaid.pk, "overdue")


def test_a_credit_note_announces_the_credited_invoice_and_the_new_note(
    operator, endpoint, per_session_customer
):
    invoice = issue_invoice_for(per_session_customer)

    credit_note, _replacement = issue_credit_note(document=invoice, reason="Wrong tariff")

    ((_t, credited),) = events("invoice.credited")
    assert (credited["id"], credited["status"], credited["credit_note_id"]) == (
        invoice.pk,
        "credited",
        credit_note.pk,
    )
    assert [data["id"] for _t, data in events("invoice.issued")] == [invoice.pk, credit_note.pk]


def test_monthly_billing_announces_every_document_it_issues(operator, endpoint, monthly_company):
    document = issue_invoice_for(monthly_company, sessions=3)

    assert [data["id"] for _t, data in events("invoice.issued")] == [document.pk]
    assert len(events("session.priced")) == 3


def test_a_repriced_session_is_announced_again(operator, endpoint):
    session = make_priced_session(operator, CustomerFactory(operator=operator))

    reprice_session(session=session)

    assert [data["id"] for _t, data in events("session.priced")][-2:] == [session.pk, session.pk]


def test_an_endpoint_gets_only_the_events_it_subscribed_to(
    operator, integrator, per_session_customer
):
    WebhookEndpoint.objects.create(
        integrator=integrator, url="http://127.0.0.1:9/paid", events=["invoice.paid"]
    )

    invoice = issue_invoice_for(per_session_customer)

    assert WebhookEvent.objects.count() == 0
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=invoice.issue_date)
    assert [t for t, _data in events()] == ["invoice.paid"]


def test_a_refused_change_announces_nothing(operator, endpoint, per_session_customer):
    invoice = issue_invoice_for(per_session_customer)
    before = WebhookEvent.objects.count()

    with pytest.raises(InvoicingError):
        record_payment(document=invoice, amount=invoice.total_gross + 1, paid_on=invoice.issue_date)
    with pytest.raises(InvoicingError):
        issue_credit_note(document=invoice, reason=" ")

    assert WebhookEvent.objects.count() == before
