"""Every line charges quantity x unit price, and a document charges what its sessions cost.

The campaign at the end prices generated sessions under generated tariffs through the real
ingest, per-session issue and monthly billing run, and checks the document invariants on every
document. CI runs the fixed seed; `PROPERTY_SEED=<n> PROPERTY_SESSIONS=<m>` widens it locally.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import unicodedata
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from cpo_portal.kernel.money import round_money
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document, DocumentKind, DocumentLine, TaxRule
from invoicing.output.pdf import render_pdf
from sessions.models import SessionChargeLine
from sessions.services import import_tariff, ingest_sessions
from tests.factories import CompanyCustomerFactory, EVSEFactory

OCTOBER = date(2026, 10, 1)
ROUNDING = DocumentLine.Service.ROUNDING
_source_ids = itertools.count(1)


def ingest(operator, evse, tariff_id, customer, sessions):
    """sessions: (start, minutes, energy_kwh, idle_minutes) tuples -> their ids."""
    payloads = [
        {
            "source_id": f"P-{next(_source_ids)}",
            "evse_id": evse.evse_id,
            "tariff_id": tariff_id,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=minutes)).isoformat(),
            "energy_kwh": energy,
            "idle_minutes": idle,
            "customer_id": customer.pk,
        }
        for start, minutes, energy, idle in sessions
    ]
    outcomes = ingest_sessions(operator=operator, source="test", payloads=payloads)
    assert all(o.status == "created" for o in outcomes), [o.errors for o in outcomes]
    return [o.session_id for o in outcomes]


def assert_document_arithmetic(document: Document) -> None:
    """The invariants an auditor checks on the face of a document."""
    lines = list(document.lines.all())
    for line in lines:
        assert line.net == round_money(line.quantity * line.unit_price), (
            document.display_number,
            line.service,
            line.quantity,
            line.unit_price,
            line.net,
        )
    session_ids = document.billed_sessions.values("session_id")
    charged = sum(
        SessionChargeLine.objects.filter(session_id__in=session_ids).values_list("net", flat=True),
        Decimal("0"),
    )
    assert document.total_net == charged == sum(line.net for line in lines)
    assert document.total_gross == document.total_net + document.total_vat
    if document.kind != DocumentKind.CREDIT_NOTE:
        for row in document.vat_summary:
            assert Decimal(row["net"]) >= 0 and Decimal(row["vat"]) >= 0, row


@pytest.mark.django_db
def test_a_monthly_line_charges_its_quantity_at_the_tariff_price_and_shows_the_rounding(operator):
    tariff = {
        "id": "E45",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.45"), "step_size": 1}]}
        ],
    }
    import_tariff(operator=operator, data=tariff)
    evse = EVSEFactory(location__operator=operator)
    customer = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    start = datetime(2026, 10, 2, 8, tzinfo=UTC)
    # Each 0.1 kWh session costs 0.045, charged 0.05: ten of them were charged 0.50.
    ingest(
        operator,
        evse,
        "E45",
        customer,
        [(start + timedelta(hours=n), 30, "0.100", 0) for n in range(10)],
    )

    run_billing(operator=operator, period=OCTOBER)

    invoice = Document.objects.get(customer=customer)
    rows = [
        (line.service, line.quantity, line.unit_price, line.net) for line in invoice.lines.all()
    ]
    assert rows == [
        ("energy", Decimal("1.000"), Decimal("0.450000"), Decimal("0.45")),
        (ROUNDING, Decimal("1.000"), Decimal("0.050000"), Decimal("0.05")),
    ]
    assert invoice.total_net == Decimal("0.50")
    assert_document_arithmetic(invoice)
    reader = PdfReader(io.BytesIO(render_pdf(invoice)))
    text = " ".join(
        " ".join(unicodedata.normalize("NFKC", page.extract_text()).split())
        for page in reader.pages
    )
    assert "Rounding to cents per session" in text
    assert "Subtotal excl." in text
    assert "lines charge quantity \u00d7 unit price" in text


@pytest.mark.django_db
def test_a_capped_session_with_mixed_rates_keeps_every_line_and_rate_exact(operator):
    TaxRule.objects.create(
        country="DE", category="services", valid_from=date(2026, 1, 1), rate=Decimal("7.00")
    )
    tariff = {
        "id": "CAP",
        "currency": "EUR",
        "max_price": {"excl_vat": Decimal("10.00")},
        "elements": [
            {"price_components": [{"type": "FLAT", "price": Decimal("1.00"), "step_size": 1}]},
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.79"), "step_size": 1}]},
            {"price_components": [{"type": "TIME", "price": Decimal("1.00"), "step_size": 60}]},
        ],
    }
    import_tariff(operator=operator, data=tariff)
    evse = EVSEFactory(location__operator=operator)
    customer = CompanyCustomerFactory(operator=operator, billing_mode="per_session")
    (session_id,) = ingest(
        operator,
        evse,
        "CAP",
        customer,
        [(datetime(2026, 10, 2, 8, tzinfo=UTC), 7, "30.000", 0)],
    )

    (document,) = issue_session_documents(session_ids=[session_id], issue_date=date(2026, 10, 2))

    assert document.total_net == Decimal("10.00")
    assert_document_arithmetic(document)
    adjustments = [line for line in document.lines.all() if line.service == "price_adjustment"]
    assert {line.vat_rate for line in adjustments} == {Decimal("19.00"), Decimal("7.00")}
    assert all(line.session_id == session_id for line in document.lines.all())


# --- the property campaign --------------------------------------------------------------------

SEED = int(os.environ.get("PROPERTY_SEED", "17"))
SESSIONS = int(os.environ.get("PROPERTY_SESSIONS", "40"))


def random_price(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    return Decimal(rng.randint(low * 10**places, high * 10**places)) / 10**places


def random_tariff(rng: random.Random, tariff_id: str) -> dict:
    """An OCPI tariff with a random mix of components, step sizes, day/night and min/max."""
    components = []
    if rng.random() < 0.9:
        components.append(
            {
                "type": "ENERGY",
                "price": random_price(rng, 0, 1, rng.choice([2, 3, 4])),
                "step_size": rng.choice([1, 1, 100, 1000]),
            }
        )
    if rng.random() < 0.5:
        components.append(
            {
                "type": "TIME",
                "price": random_price(rng, 0, 12, rng.choice([2, 3])),
                "step_size": rng.choice([1, 60, 300, 900]),
            }
        )
    if rng.random() < 0.5:
        components.append(
            {
                "type": "PARKING_TIME",
                "price": random_price(rng, 0, 10, 2),
                "step_size": rng.choice([1, 60, 900]),
            }
        )
    if rng.random() < 0.4 or not components:
        components.append({"type": "FLAT", "price": random_price(rng, 0, 3, 2), "step_size": 1})
    elements = [{"price_components": [component]} for component in components]
    if rng.random() < 0.3:
        night = {
            "type": "ENERGY",
            "price": random_price(rng, 0, 1, 3),
            "step_size": 1,
        }
        elements.insert(
            0,
            {
                "price_components": [night],
                "restrictions": {"start_time": "22:00", "end_time": "06:00"},
            },
        )
    tariff = {"id": tariff_id, "currency": "EUR", "elements": elements}
    roll = rng.random()
    if roll < 0.25:
        tariff["max_price"] = {"excl_vat": random_price(rng, 1, 15, 2)}
    elif roll < 0.45:
        tariff["min_price"] = {"excl_vat": random_price(rng, 1, 8, 2)}
    return tariff


@pytest.mark.property
@pytest.mark.django_db
def test_generated_sessions_give_documents_that_add_up(operator):
    rng = random.Random(SEED)
    TaxRule.objects.create(
        country="DE", category="services", valid_from=date(2026, 1, 1), rate=Decimal("7.00")
    )
    evse = EVSEFactory(location__operator=operator)
    tariff_ids = [f"GEN-{n}" for n in range(6)]
    for tariff_id in tariff_ids:
        import_tariff(operator=operator, data=random_tariff(rng, tariff_id))
    monthly = [CompanyCustomerFactory(operator=operator, billing_mode="monthly") for _ in range(3)]
    per_session = [
        CompanyCustomerFactory(operator=operator, billing_mode="per_session") for _ in range(2)
    ]
    per_session_ids = []
    for _ in range(SESSIONS):
        customer = rng.choice(monthly + per_session)
        start = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 43000))
        minutes = rng.randint(1, 600)
        energy = str(Decimal(rng.randint(1, 90000)) / 1000)
        idle = rng.choice([0, 0, rng.randint(1, min(minutes, 120))])
        ids = ingest(
            operator, evse, rng.choice(tariff_ids), customer, [(start, minutes, energy, idle)]
        )
        if customer in per_session:
            per_session_ids += ids

    issue_session_documents(session_ids=per_session_ids, issue_date=date(2026, 11, 1))
    run_billing(operator=operator, period=OCTOBER)

    documents = list(Document.objects.filter(operator=operator))
    assert sum(d.session_count for d in documents) == SESSIONS
    for document in documents:
        assert_document_arithmetic(document)
