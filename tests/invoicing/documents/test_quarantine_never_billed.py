"""A quarantined session (a calibration-law relevant EVSE without valid signed meter data) is
never billed: not per session, not by the monthly run, not by a subscription, not by the
receipt server; once released it is billed like any other."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from customers.models import Plan
from invoicing.billing.runs import run_billing
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import bill_sessions, issue_session_documents
from invoicing.models import BilledSession, Document
from invoicing.payments.card_receipts import settle_card_payment
from invoicing.subscriptions.lifecycle import renew_subscriptions, subscribe
from sessions.metering.quarantine import attach_signed_data
from sessions.metering.simulator import SimulatedMeter
from sessions.metering.verification import SignedMeterInput, SignedRecord
from tests.factories import CompanyCustomerFactory, CustomerFactory, EVSEFactory
from tests.invoicing.receipts.conftest import capture_for, card_payment_for

pytestmark = pytest.mark.django_db
METER = SimulatedMeter(serial="EMH-Q1")


@pytest.fixture
def evse(operator):
    """The invoicing fixtures' EVSE, calibration-law relevant with its meter's key."""
    return EVSEFactory(
        location__operator=operator,
        evse_id="DE*VWY*E000001",
        calibration_law_relevant=True,
        meter_public_key=METER.public_key_hex,
    )


def assert_quarantined(sessions):
    assert all(s.quarantine == "open" and s.priced_at is None for s in sessions)
    assert not BilledSession.objects.filter(session__in=sessions).exists()
    assert not Document.objects.exists()


def test_per_session_customers_get_no_document(charge, operator):
    customer = CompanyCustomerFactory(operator=operator, billing_mode="per_session")
    sessions = charge(customer)
    issue_session_documents(session_ids=[s.pk for s in sessions])
    with pytest.raises(InvoicingError, match="not completed and priced"):
        bill_sessions(session_ids=[s.pk for s in sessions])
    assert_quarantined(sessions)


def test_the_monthly_run_leaves_them_out(charge, operator):
    customer = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    sessions = charge(customer, count=2)
    run = run_billing(operator=operator, period=date(2026, 10, 1))
    assert run.sessions_billed == 0
    assert_quarantined(sessions)


def test_a_subscription_renewal_bills_the_fee_only(charge, operator):
    plan = Plan.objects.create(operator=operator, name="Flex", fee=Decimal("9.90"))
    customer = CustomerFactory(operator=operator, requires_invoice=True)
    subscribe(customer=customer, plan=plan, start_date=date(2026, 10, 1))
    sessions = charge(customer)
    with time_machine.travel(datetime(2026, 11, 1, 6, tzinfo=UTC), tick=False):
        assert renew_subscriptions() == 1
    invoice = Document.objects.get()
    assert [line.service for line in invoice.lines.all()] == ["subscription_fee"]
    assert not BilledSession.objects.filter(session__in=sessions).exists()


def test_the_receipt_server_issues_no_receipt(charge, operator):
    (session,) = charge()
    session.total_gross = Decimal("5.00")  # what the terminal charged; the session has no price
    entry = capture_for(session)
    with pytest.raises(InvoicingError, match="not completed and priced"):
        settle_card_payment(
            session_id=session.pk,
            transaction_id=entry.pk,
            card_payment=card_payment_for(session, entry),
        )
    session.refresh_from_db()
    assert_quarantined([session])


def test_released_with_its_signed_data_it_is_billed_from_the_readings(charge, operator):
    customer = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    (session,) = charge(customer)
    begin, end = METER.transaction(
        start=session.started_at, end=session.ended_at, start_wh=0, end_wh=12_000
    )
    signed = SignedMeterInput("OCMF", (SignedRecord(begin), SignedRecord(end)))
    attach_signed_data(session=session, signed=signed)
    run = run_billing(operator=operator, period=date(2026, 10, 1))
    assert run.sessions_billed == 1
    energy = Document.objects.get().lines.get(service="energy")
    assert energy.quantity == Decimal("12.000")
