"""Issued documents for tests, made the way production makes them: ingest, price, issue, bill."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing.billing.runs import run_billing
from invoicing.documents.composition import issuing_schedule_of
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document, InvoicingSettings, Operator
from sessions.models import EVSE, ChargingSession, Tariff
from sessions.services import import_tariff, ingest_sessions
from tests.factories import EVSEFactory

HELPER_TARIFF_ID = "HELPER-AC"
# 0.40 per kWh only: 10.5 kWh are 4.20 net, 0.80 VAT (19 %) and 5.00 gross.
HELPER_TARIFF = {
    "country_code": "DE",
    "party_id": "CPO",
    "id": HELPER_TARIFF_ID,
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]}
    ],
    "last_updated": "2026-01-01T00:00:00Z",
}

_source_ids = itertools.count(1)


def helper_tariff(operator: Operator) -> Tariff:
    """The operator's 0.40/kWh tariff, imported on first use."""
    existing = Tariff.objects.filter(operator=operator, ocpi_id=HELPER_TARIFF_ID).first()
    return existing or import_tariff(operator=operator, data=HELPER_TARIFF)


def helper_evse(operator: Operator) -> EVSE:
    """Any EVSE of the operator, created on first use."""
    existing = EVSE.objects.filter(location__operator=operator).order_by("pk").first()
    return existing or EVSEFactory(location__operator=operator)


def make_priced_session(
    operator: Operator,
    customer: Customer | None,
    *,
    start: datetime | None = None,
    minutes: int = 60,
    energy_kwh: str = "10.5",
    source_id: str | None = None,
    evse: EVSE | None = None,
    tariff: Tariff | None = None,
) -> ChargingSession:
    """Ingest one completed session through the ingest service, priced with the helper tariff."""
    start = start or datetime.fromisoformat("2026-03-02T10:00:00+00:00")
    payload = {
        "source_id": source_id or f"HELPER-{next(_source_ids)}",
        "evse_id": (evse or helper_evse(operator)).evse_id,
        "tariff_id": (tariff or helper_tariff(operator)).ocpi_id,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "energy_kwh": energy_kwh,
    }
    if customer is not None:
        payload["customer_id"] = customer.pk
    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
    assert outcome.status == "created", outcome.errors
    return ChargingSession.objects.get(pk=outcome.session_id)


def issue_invoice_for(customer: Customer, *, sessions: int = 1, **session_kwargs) -> Document:
    """Ingest `sessions` sessions of the customer and issue the one document that bills them.

    A customer billed per session gets their document from `issue_session_documents` (so only
    one session is possible); a monthly customer's sessions are put in the month that just
    closed and billed by a billing run of that month.
    """
    operator = customer.operator
    settings = InvoicingSettings.objects.get(operator=operator)
    schedule = issuing_schedule_of(customer=customer, settings=settings)
    if schedule == InvoicingSettings.IssuingSchedule.PER_SESSION:
        if sessions != 1:
            raise ValueError("A customer billed per session gets one document per session.")
        session = make_priced_session(operator, customer, **session_kwargs)
        (document,) = issue_session_documents(session_ids=[session.pk])
        return document
    if schedule != InvoicingSettings.IssuingSchedule.MONTHLY:
        raise ValueError(f"{customer} gets no documents (issuing schedule: {schedule}).")
    period = previous_period(today_for(operator))
    first_start = session_kwargs.pop("start", None) or datetime(
        period.year, period.month, 2, 10, tzinfo=UTC
    )
    for index in range(sessions):
        start = first_start + timedelta(hours=index)
        make_priced_session(operator, customer, start=start, **session_kwargs)
    run = run_billing(operator=operator, period=period)
    error = run.errors.filter(customer=customer).first()
    assert error is None, f"{customer} was not billed: {error.message}"
    return Document.objects.filter(customer=customer, billing_run=run).latest("id")
