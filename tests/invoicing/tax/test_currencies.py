"""Currencies (issue 17, point 4): minor units, VAT stated in the supply country's currency with
the rate (Art. 230), the ECB rate import, the 250 EUR limit in EUR and non-EU VAT IDs.

The document scenarios ingest a session through the real services, issue its document and read
it back three ways, like test_tax_rules.py: the stored figures, the PDF (pdftotext) and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cpo_portal.kernel.formatting import amount
from cpo_portal.kernel.money import minor_units, round_money, vat_breakdown
from customers.models import Customer
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document, ExchangeRate
from invoicing.output import pdf
from invoicing.tax.currencies import amount_in_eur, country_currency
from sessions.models import ChargingSession
from sessions.services import import_tariff, ingest_sessions
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.factories import CustomerFactory, EVSEFactory
from tests.invoicing.tax.test_tax_rules import pdf_text

D = Decimal
DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "eurofxref-sample.xml"
END = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
ISSUED_ON = date(2026, 10, 5)
ZONES = {"DE": "Europe/Berlin", "CH": "Europe/Zurich"}


def _import_sample():
    call_command("import_exchange_rates", str(SAMPLE), stdout=StringIO())


@dataclass
class CurrencyScenario:
    name: str
    country: str
    currency: str
    energy: str
    kwh: str
    vat_rows: list[tuple[str, str, str]]  # (rate, net, vat) as stored and returned by the API
    totals: tuple[str, str, str]  # net, vat, gross
    printed: list[str] = field(default_factory=list)  # texts the PDF must show
    absent: list[str] = field(default_factory=list)  # texts it must not show
    stated: list[dict] = field(default_factory=list)  # supply_currency_vat, as the API returns


SCENARIOS = [
    CurrencyScenario(
        "JPY document for German charging: whole yen, VAT also stated in EUR",
        country="DE",
        currency="JPY",
        energy="45",
        kwh="10.300",  # 463.50 JPY priced, 464 on the document (half up)
        vat_rows=[("19.00", "464", "88")],
        totals=("464", "88", "552"),
        printed=["552 JPY", "VAT in EUR: 0.51 EUR", "1 JPY = 0.005797 EUR"],
        absent=["464.00", "552.00"],
        stated=[
            {
                "currency": "EUR",
                "rate": "0.005797",
                "rate_date": "2026-10-02",
                "source": "ECB reference rate",
                "rows": [{"rate": "19.00", "vat": "0.51"}],
                "total_vat": "0.51",
            }
        ],
    ),
    CurrencyScenario(
        "CHF document for German charging: German VAT, also stated in EUR with the rate",
        country="DE",
        currency="CHF",
        energy="0.50",
        kwh="10.000",
        vat_rows=[("19.00", "5.00", "0.95")],
        totals=("5.00", "0.95", "5.95"),
        printed=["5.95 CHF", "VAT in EUR: 1.02 EUR", "1 CHF = 1.069519 EUR", "ECB reference rate"],
        stated=[
            {
                "currency": "EUR",
                "rate": "1.069519",
                "rate_date": "2026-10-02",
                "source": "ECB reference rate",
                "rows": [{"rate": "19.00", "vat": "1.02"}],
                "total_vat": "1.02",
            }
        ],
    ),
    CurrencyScenario(
        "EUR document for Swiss charging: Swiss VAT, also stated in CHF with the rate",
        country="CH",
        currency="EUR",
        energy="0.40",
        kwh="10.000",
        vat_rows=[("8.10", "4.00", "0.32")],
        totals=("4.00", "0.32", "4.32"),
        printed=[
            "VAT in CHF: 0.30 CHF",
            "1 EUR = 0.935 CHF",
            "ECB reference rate of Oct. 2, 2026",
            "(8.1 %: 0.30 CHF)",
        ],
        stated=[
            {
                "currency": "CHF",
                "rate": "0.935",
                "rate_date": "2026-10-02",
                "source": "ECB reference rate",
                "rows": [{"rate": "8.10", "vat": "0.30"}],
                "total_vat": "0.30",
            }
        ],
    ),
    CurrencyScenario(
        "CHF document for Swiss charging: same currency, nothing restated",
        country="CH",
        currency="CHF",
        energy="0.50",
        kwh="10.000",
        vat_rows=[("8.10", "5.00", "0.41")],
        totals=("5.00", "0.41", "5.41"),
        printed=["5.41 CHF"],
        absent=["VAT in"],
    ),
]


def _session(operator, *, country: str, currency: str, energy: str, kwh: str, customer=None):
    evse = EVSEFactory(
        location__operator=operator,
        location__country=country,
        location__time_zone=ZONES[country],
        evse_id=f"{country}*VWY*E{currency}",
    )
    tariff = import_tariff(
        operator=operator,
        data={
            "id": f"T-{currency}",
            "currency": currency,
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": D(energy), "step_size": 1}]}
            ],
        },
    )
    customer = customer or CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session"
    )
    (outcome,) = ingest_sessions(
        operator=operator,
        source="test",
        payloads=[
            {
                "source_id": f"CUR-{country}-{currency}",
                "evse_id": evse.evse_id,
                "tariff_id": tariff.ocpi_id,
                "start": (END - timedelta(hours=1)).isoformat(),
                "end": END.isoformat(),
                "energy_kwh": kwh,
                "customer_id": customer.pk,
            }
        ],
    )
    assert outcome.status == "created", outcome.errors
    return outcome.session_id


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_currency_scenario(operator, client, scenario):
    _import_sample()
    session_id = _session(
        operator,
        country=scenario.country,
        currency=scenario.currency,
        energy=scenario.energy,
        kwh=scenario.kwh,
    )
    (document,) = issue_session_documents(session_ids=[session_id], issue_date=ISSUED_ON)

    assert document.currency == scenario.currency
    rows = [(r["rate"], r["net"], r["vat"]) for r in document.vat_summary]
    assert rows == scenario.vat_rows
    places = minor_units(scenario.currency)
    assert all(-line.net.normalize().as_tuple().exponent <= places for line in document.lines.all())
    assert document.supply_currency_vat == scenario.stated

    flat = " ".join(pdf_text(pdf.render_pdf(document)).split())
    for text in [*scenario.printed, *(net for _r, net, _v in rows), *(v for _r, _n, v in rows)]:
        assert text in flat, text
    for text in scenario.absent:
        assert text not in flat, text

    api = Api(client, make_key(make_integrator(operator)))
    detail = api.get(f"/api/v1/invoices/{document.pk}/").json()
    assert [(r["rate"], r["net"], r["vat"]) for r in detail["vat_summary"]] == rows
    assert (detail["total_net"], detail["total_vat"], detail["total_gross"]) == scenario.totals
    assert [line["net"] for line in detail["lines"]] == [net for _r, net, _v in rows]
    assert detail["supply_currency_vat"] == scenario.stated
    listed = api.get("/api/v1/invoices/").json()["results"]
    assert listed[0]["total_gross"] == scenario.totals[2]


def test_a_document_without_an_exchange_rate_is_held_until_one_is_entered(operator):
    session_id = _session(operator, country="CH", currency="EUR", energy="0.40", kwh="10.000")

    assert issue_session_documents(session_ids=[session_id], issue_date=ISSUED_ON) == []
    assert not Document.objects.exists()
    assert not ChargingSession.objects.get(pk=session_id).billings.exists()

    # A rate dated after the issue date does not help; one on or before it does.
    ExchangeRate.objects.create(currency="CHF", rate_date=date(2026, 10, 6), rate=D("0.94"))
    assert issue_session_documents(session_ids=[session_id], issue_date=ISSUED_ON) == []
    ExchangeRate.objects.create(currency="CHF", rate_date=date(2026, 9, 30), rate=D("0.93"))
    (document,) = issue_session_documents(session_ids=[session_id], issue_date=ISSUED_ON)
    assert document.supply_currency_vat[0]["rate_date"] == "2026-09-30"


def test_a_missing_rate_is_a_billing_run_error_for_a_monthly_customer(operator):
    from invoicing.billing.runs import run_billing
    from invoicing.models import BillingRunError

    customer = CustomerFactory(operator=operator, requires_invoice=True, billing_mode="monthly")
    _session(operator, country="CH", currency="EUR", energy="0.40", kwh="10.000", customer=customer)
    run_billing(operator=operator, period=date(2026, 10, 1))

    (error,) = BillingRunError.objects.all()
    assert "No exchange rate for CHF on or before" in error.message
    assert "held" in error.message
    assert not Document.objects.exists()


def test_the_stated_vat_is_frozen_at_issue_and_a_credit_note_reverses_it(operator):
    from invoicing.documents.issuing import issue_credit_note

    _import_sample()
    session_id = _session(operator, country="CH", currency="EUR", energy="0.40", kwh="10.000")
    (document,) = issue_session_documents(session_ids=[session_id], issue_date=ISSUED_ON)
    ExchangeRate.objects.filter(currency="CHF").update(rate=D("2"))
    ExchangeRate.objects.create(currency="CHF", rate_date=date(2026, 10, 5), rate=D("3"))

    document.refresh_from_db()
    flat = " ".join(pdf_text(pdf.render_pdf(document)).split())
    assert "VAT in CHF: 0.30 CHF" in flat and "1 EUR = 0.935 CHF" in flat
    credit, _replacement = issue_credit_note(document=document, reason="Wrong customer")
    assert credit.supply_currency_vat[0]["total_vat"] == "-0.30"  # at the original's rate
    assert credit.supply_currency_vat[0]["rate_date"] == "2026-10-02"


# --- minor units and the 250 EUR limit ---------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "value", "rounded", "printed"),
    [
        ("EUR", "12.345", "12.35", "12.35 EUR"),
        ("CHF", "0.125", "0.13", "0.13 CHF"),
        ("JPY", "1249.5", "1250", "1,250 JPY"),
        ("BHD", "1.2345", "1.235", "1.235 BHD"),
        ("KWD", "0.0005", "0.001", "0.001 KWD"),
    ],
)
def test_amounts_carry_their_currencys_minor_units_rounded_half_up(
    currency, value, rounded, printed
):
    assert str(round_money(D(value), currency)) == rounded
    assert amount(D(value), currency) == printed


def test_vat_per_rate_is_rounded_to_whole_yen():
    assert vat_breakdown([(D("10"), D("45")), (D("10"), D("60"))], "JPY") == {
        D("10"): (D("105"), D("11"))  # 10.5 half up
    }


def test_the_250_eur_receipt_limit_is_applied_in_eur(db):
    _import_sample()
    on = date(2026, 10, 5)
    assert amount_in_eur(D("233.75"), "CHF", on) == D("250.00")  # 233.75 / 0.935
    assert amount_in_eur(D("43125"), "JPY", on) == D("250.00")
    receipt = Document(kind="sales_receipt", currency="CHF", issue_date=on)
    receipt.total_gross = D("233.75")
    assert pdf.is_simplified(receipt)
    receipt.total_gross = D("233.76")
    assert not pdf.is_simplified(receipt)
    receipt.currency, receipt.total_gross = "JPY", D("43126")
    assert not pdf.is_simplified(receipt)
    # Without a rate for its currency a receipt is a full one (never simplified by guess).
    receipt.currency, receipt.total_gross = "SEK", D("10")
    assert not pdf.is_simplified(receipt)


def test_supply_countries_map_to_their_currency():
    assert [country_currency(c) for c in ("DE", "GR", "CH", "NO", "GB", "SE", "")] == [
        "EUR",
        "EUR",
        "CHF",
        "NOK",
        "GBP",
        "SEK",
        "EUR",
    ]


# --- the ECB import ----------------------------------------------------------------------------


def test_the_ecb_reference_rates_are_imported_from_a_file_and_again_changes_nothing(db):
    out = StringIO()
    call_command("import_exchange_rates", str(SAMPLE), stdout=out)
    assert "Imported 2 day(s) of rates: 10 new, 0 updated." in out.getvalue()
    rate = ExchangeRate.objects.get(currency="CHF", rate_date=date(2026, 10, 2))
    assert (rate.rate, rate.source) == (D("0.935000"), "ECB reference rate")

    out = StringIO()
    call_command("import_exchange_rates", str(SAMPLE), stdout=out)
    assert "10 new" not in out.getvalue() and "0 new, 0 updated" in out.getvalue()
    assert ExchangeRate.objects.count() == 10


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.xml", None, "is not a currency code with a positive rate"),
        ("html.xml", b"<html><body>Moved</body></html>", "The file holds no rates"),
        ("cut.xml", b"<Cube><Cube time='2026-10-02'>", "is not well-formed XML"),
    ],
)
def test_a_bad_rate_file_is_refused_with_a_sentence_and_nothing_is_stored(
    db, tmp_path, name, content, message
):
    path = DATA / "eurofxref-broken.xml"
    if content is not None:
        path = tmp_path / name
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message) as raised:
        call_command("import_exchange_rates", str(path))
    assert str(raised.value).startswith(f"Nothing was imported from {path}")
    assert not ExchangeRate.objects.exists()


def test_a_missing_rate_file_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        call_command("import_exchange_rates", str(tmp_path / "nope.xml"))


def test_billing_managers_edit_exchange_rates_in_the_admin(admin_client):
    from django.contrib.auth.models import Group

    manager = Group.objects.get(name="Billing manager").permissions.values_list(
        "codename", flat=True
    )
    assert {"add_exchangerate", "change_exchangerate"} <= set(manager)
    response = admin_client.post(
        "/admin/invoicing/exchangerate/add/",
        {"currency": "chf", "rate_date": "2026-10-05", "rate": "0.9361", "source": "Own bank"},
    )
    assert response.status_code == 302, response.content
    assert ExchangeRate.objects.get(rate_date=date(2026, 10, 5)).currency == "CHF"
    response = admin_client.post(
        "/admin/invoicing/exchangerate/add/",
        {"currency": "EUR", "rate_date": "2026-10-05", "rate": "1", "source": "x"},
    )
    assert "Rates are per euro; EUR needs none." in response.content.decode()


# --- non-EU VAT IDs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("CHE-116.281.710 MWST", "CHE116281710MWST"),
        ("NO 995 525 828 MVA", "NO995525828MVA"),
        ("GB 980 7806 84", "GB980780684"),
        ("DE 136 695 976", "DE136695976"),
    ],
)
def test_swiss_norwegian_and_uk_vat_ids_are_accepted_and_stored_compact(
    operator, client, typed, stored
):
    api = Api(client, make_key(make_integrator(operator)))
    response = api.post(
        "/api/v1/customers/",
        {
            "kind": "company",
            "company_name": "Fleet AG",
            "vat_id": typed,
            "street": "Bahnhofstrasse 1",
            "postal_code": "8001",
            "city": "Zürich",
            "country": "CH",
            "email": "fleet@example.org",
        },
    )
    assert response.status_code == 201, response.content
    assert Customer.objects.get(pk=response.json()["id"]).vat_id == stored


@pytest.mark.parametrize("typed", ["CHE-116.281.711 MWST", "NO 995 525 829 MVA", "GB 980 7806 85"])
def test_a_wrong_swiss_norwegian_or_uk_vat_id_is_a_field_error(operator, client, typed):
    api = Api(client, make_key(make_integrator(operator)))
    response = api.post(
        "/api/v1/customers/",
        {
            "kind": "company",
            "company_name": "Fleet AG",
            "vat_id": typed,
            "street": "Bahnhofstrasse 1",
            "postal_code": "8001",
            "city": "Zürich",
            "country": "CH",
            "email": "fleet@example.org",
        },
    )
    assert response.status_code == 400
    (message,) = response.json()["vat_id"]
    assert message.startswith(f"“{typed}” is not a valid Swiss UID, Norwegian MVA or UK VAT")


def test_whether_companies_need_a_vat_id_is_the_operators_choice(operator, client):
    api = Api(client, make_key(make_integrator(operator)))
    company = {
        "kind": "company",
        "company_name": "Fleet AG",
        "street": "Bahnhofstrasse 1",
        "postal_code": "8001",
        "city": "Zürich",
        "country": "CH",
        "email": "fleet@example.org",
    }
    response = api.post("/api/v1/customers/", company)
    assert response.status_code == 400
    assert "vat_id" in response.json()

    settings = operator.invoicing_settings
    settings.mandatory_fields_company = [
        f for f in settings.mandatory_fields_company if f != "vat_id"
    ]
    settings.save()
    assert api.post("/api/v1/customers/", company).status_code == 201
