"""Tax scenarios (issue 17, points 1-3 and 9): the place of supply, the customer and price caps
decide a document's VAT rows; the PDF, the database and the API say the same.

Each scenario ingests sessions through the real services, issues the per-session document and
reads it back three ways: the stored VAT summary, the printed text (pdftotext on the rendered
PDF) and the API's detail.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpo_portal.kernel.money import round_money
from customers.models import Customer
from invoicing.documents.composition import ChargeGroup, compose_lines, vat_summary
from invoicing.documents.issuing import issue_session_documents, mark_overdue_documents
from invoicing.models import DocumentStatus, TaxRule, VatRegistration
from invoicing.output import pdf
from sessions.pricing import ChargingPeriod, VatRates, parse_tariff, price_session
from sessions.services import import_tariff, ingest_sessions
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.factories import CustomerFactory, EVSEFactory

D = Decimal
RC_NOTE = "Reverse charge: VAT to be accounted for by the recipient"
START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
CONTENT = {"hide_energy": False, "services_table": "detailed", "services_label": "Charging"}


def _tariff(
    tariff_id: str, *, energy="0.40", flat=None, parking=None, max_price=None, min_price=None
):
    elements = []
    if flat is not None:
        elements.append({"price_components": [{"type": "FLAT", "price": D(flat), "step_size": 1}]})
    if parking is not None:
        elements.append(
            {"price_components": [{"type": "PARKING_TIME", "price": D(parking), "step_size": 60}]}
        )
    elements.append({"price_components": [{"type": "ENERGY", "price": D(energy), "step_size": 1}]})
    data = {"id": tariff_id, "currency": "EUR", "elements": elements}
    if max_price is not None:
        data["max_price"] = {"excl_vat": D(max_price)}
    if min_price is not None:
        data["min_price"] = {"excl_vat": D(min_price)}
    return data


@dataclass
class Scenario:
    name: str
    country: str = "DE"
    customer: str = "individual"  # individual | company-DE | company-FR
    tariff: dict = field(default_factory=lambda: _tariff("T"))
    kwh: str = "10.000"
    idle: int = 0
    end: datetime = START + timedelta(hours=1)
    rules: list[dict] = field(default_factory=list)  # extra TaxRule rows for the scenario
    vat_rows: list[tuple[str, str, str]] = field(default_factory=list)  # (rate, net, vat)
    totals: tuple[str, str, str] = ("", "", "")  # net, vat, gross
    printed: list[str] = field(default_factory=list)  # texts the PDF must show
    supplier_vat_id: str = "DE136695976"


SCENARIOS = [
    Scenario(
        "domestic B2C: German charging at German VAT",
        vat_rows=[("19.00", "4.00", "0.76")],
        totals=("4.00", "0.76", "4.76"),
    ),
    Scenario(
        "domestic B2B: a German company is charged German VAT",
        customer="company-DE",
        vat_rows=[("19.00", "4.00", "0.76")],
        totals=("4.00", "0.76", "4.76"),
    ),
    Scenario(
        "charge point abroad B2C: French charging at French VAT, with the French VAT ID",
        country="FR",
        vat_rows=[("20.00", "4.00", "0.80")],
        totals=("4.00", "0.80", "4.80"),
        supplier_vat_id="FR40303265045",
        printed=["FR40303265045"],
    ),
    Scenario(
        "charge point abroad B2C: Greek charging at Greek VAT",
        country="GR",
        vat_rows=[("24.00", "4.00", "0.96")],
        totals=("4.00", "0.96", "4.96"),
    ),
    Scenario(
        "cross-border B2B: a German company charging in France gets a reverse charge",
        country="FR",
        customer="company-DE",
        vat_rows=[("0.00", "4.00", "0.00")],
        totals=("4.00", "0.00", "4.00"),
        supplier_vat_id="FR40303265045",
        printed=[RC_NOTE, "Art. 194/196 Directive 2006/112/EC", "FR40303265045", "DE136695976"],
    ),
    Scenario(
        "exempt line: idle time exempt by a rule, with its reason printed",
        tariff=_tariff("T", parking="6.00"),
        idle=10,
        rules=[
            {
                "country": "DE",
                "category": "services",
                "valid_from": date(2026, 1, 1),
                "rate": D("0"),
                "rate_reason": "Exempt: parking let with the charge point",
            }
        ],
        vat_rows=[("0.00", "1.00", "0.00"), ("19.00", "4.00", "0.76")],
        totals=("5.00", "0.76", "5.76"),
        printed=["Exempt: parking let with the charge point"],
    ),
    Scenario(
        "mixed rates, max price: the cap is apportioned, no negative row (was VAT 3.54)",
        tariff=_tariff("T", energy="0.79", max_price="10.00"),
        kwh="30.000",
        rules=[
            {
                "country": "DE",
                "category": "services",
                "valid_from": date(2026, 1, 1),
                "rate": D("7"),
            }
        ],
        vat_rows=[("19.00", "10.00", "1.90")],
        totals=("10.00", "1.90", "11.90"),
    ),
    Scenario(
        "mixed rates, max price over energy and a connection fee: pro rata to their nets",
        tariff=_tariff("T", energy="0.79", flat="1.00", max_price="10.00"),
        kwh="30.000",
        rules=[
            {
                "country": "DE",
                "category": "services",
                "valid_from": date(2026, 1, 1),
                "rate": D("7"),
            }
        ],
        vat_rows=[("7.00", "0.40", "0.03"), ("19.00", "9.60", "1.82")],
        totals=("10.00", "1.85", "11.85"),
    ),
    Scenario(
        "mixed rates, min price: the top-up follows what it tops up",
        tariff=_tariff("T", energy="0.40", flat="1.00", min_price="10.00"),
        rules=[
            {
                "country": "DE",
                "category": "services",
                "valid_from": date(2026, 1, 1),
                "rate": D("7"),
            }
        ],
        vat_rows=[("7.00", "2.00", "0.14"), ("19.00", "8.00", "1.52")],
        totals=("10.00", "1.66", "11.66"),
    ),
    Scenario(
        "rate change at midnight: a session ending 23:30 Berlin time keeps the old rate",
        end=datetime(2026, 10, 5, 21, 30, tzinfo=UTC),
        rules=[
            {
                "country": "DE",
                "category": "electricity",
                "valid_from": date(2026, 10, 6),
                "rate": D("16"),
            }
        ],
        vat_rows=[("19.00", "4.00", "0.76")],
        totals=("4.00", "0.76", "4.76"),
    ),
    Scenario(
        "rate change at midnight: a session ending 00:30 Berlin time has the new rate",
        end=datetime(2026, 10, 5, 22, 30, tzinfo=UTC),
        rules=[
            {
                "country": "DE",
                "category": "electricity",
                "valid_from": date(2026, 10, 6),
                "rate": D("16"),
            }
        ],
        vat_rows=[("16.00", "4.00", "0.64")],
        totals=("4.00", "0.64", "4.64"),
    ),
]


def pdf_text(data: bytes) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    result = subprocess.run(
        [tool, "-layout", "-", "-"], input=data, capture_output=True, check=True
    )
    return result.stdout.decode()


def _customer(operator, kind: str) -> Customer:
    if kind == "individual":
        return CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    vat_id = {"company-DE": "DE136695976", "company-FR": "FR40303265045"}[kind]
    return CustomerFactory(
        operator=operator,
        kind=Customer.Kind.COMPANY,
        company_name="Fleet SE",
        vat_id=vat_id,
        requires_invoice=True,
        billing_mode="per_session",
    )


def _issue(operator, scenario: Scenario):
    for rule in scenario.rules:
        TaxRule.objects.create(**rule)
    VatRegistration.objects.create(operator=operator, country="FR", vat_id="FR40303265045")
    zones = {"DE": "Europe/Berlin", "FR": "Europe/Paris", "GR": "Europe/Athens"}
    evse = EVSEFactory(
        location__operator=operator,
        location__country=scenario.country,
        location__time_zone=zones[scenario.country],
        evse_id=f"{scenario.country}*VWY*E1",
    )
    tariff = import_tariff(operator=operator, data=scenario.tariff)
    customer = _customer(operator, scenario.customer)
    payload = {
        "source_id": "TAX-1",
        "evse_id": evse.evse_id,
        "tariff_id": tariff.ocpi_id,
        "start": (scenario.end - timedelta(minutes=60)).isoformat(),
        "end": scenario.end.isoformat(),
        "energy_kwh": scenario.kwh,
        "idle_minutes": scenario.idle,
        "customer_id": customer.pk,
    }
    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
    assert outcome.status == "created", outcome.errors
    (document,) = issue_session_documents(session_ids=[outcome.session_id])
    return document


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_tax_scenario(operator, client, scenario):
    document = _issue(operator, scenario)

    rows = [(r["rate"], r["net"], r["vat"]) for r in document.vat_summary]
    assert rows == scenario.vat_rows
    assert all(D(vat) >= 0 for _rate, _net, vat in rows)
    assert (str(document.total_net), str(document.total_vat), str(document.total_gross)) == (
        scenario.totals
    )
    assert document.supplier_vat_id == scenario.supplier_vat_id

    text = pdf_text(pdf.render_pdf(document))
    flat = " ".join(text.split())
    for printed in [*scenario.printed, scenario.supplier_vat_id]:
        assert printed in flat, printed
    for rate, net, vat in rows:
        assert f"{rate.rstrip('0').rstrip('.')}%" in flat.replace(" ", "")
        assert net in flat and vat in flat
    assert scenario.totals[2] in flat

    api = Api(client, make_key(make_integrator(operator)))
    detail = api.get(f"/api/v1/invoices/{document.pk}/").json()
    assert [(r["rate"], r["net"], r["vat"]) for r in detail["vat_summary"]] == rows
    assert (detail["total_net"], detail["total_vat"], detail["total_gross"]) == scenario.totals
    assert detail["supplier_vat_id"] == scenario.supplier_vat_id
    notes = {r.get("note", "") for r in detail["vat_summary"]} - {""}
    assert all(note in flat for note in notes)
    assert any(RC_NOTE in note for note in notes) == (RC_NOTE in scenario.printed)


def test_a_zero_rated_or_exempt_rule_cannot_be_saved_without_its_reason(db):
    rule = TaxRule(country="DE", category="services", valid_from=date(2027, 1, 1), rate=D("0"))
    with pytest.raises(Exception, match="reason"):
        rule.full_clean()
    rule = TaxRule(
        country="DE",
        category="services",
        valid_from=date(2027, 1, 1),
        rate=D("19"),
        business_foreign="reverse_charge",
    )
    with pytest.raises(Exception, match="text the document prints"):
        rule.full_clean()


def test_the_shipped_rules_cover_the_eu_ch_no_and_gb(db):
    countries = set(TaxRule.objects.values_list("country", flat=True))
    assert len(countries) == 30 and {"DE", "FR", "GR", "CH", "NO", "GB"} <= countries
    assert TaxRule.objects.filter(country="CH", category="electricity").latest(
        "valid_from"
    ).rate == D("8.10")


def test_a_free_session_is_settled_at_issue_and_never_asks_for_payment(operator, client):
    scenario = Scenario("free", tariff=_tariff("FREE", energy="0.00"))
    document = _issue(operator, scenario)

    assert document.total_gross == 0
    assert document.status == DocumentStatus.PAID
    assert document.paid_on == document.issue_date
    text = " ".join(pdf_text(pdf.render_pdf(document)).split())
    assert "Please pay" not in text
    mark_overdue_documents(today=document.due_date + timedelta(days=60))
    document.refresh_from_db()
    assert document.status == DocumentStatus.PAID


# --- properties ------------------------------------------------------------------------------

RATES = VatRates(electricity=D("19"), services=D("7"))
prices = st.decimals(min_value=D("0.00"), max_value=D("2.00"), places=2)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    energy_price=prices,
    flat=st.one_of(st.none(), prices),
    kwh=st.decimals(min_value=D("0.000"), max_value=D("120.000"), places=3),
    cap=st.one_of(
        st.none(),
        st.tuples(
            st.sampled_from(["max_price", "min_price"]), st.decimals(D("0.01"), D("60"), places=2)
        ),
    ),
)
def test_no_invoice_has_a_negative_vat_row_and_every_line_is_quantity_times_price(
    energy_price, flat, kwh, cap
):
    data = _tariff("P", energy=str(energy_price), flat=None if flat is None else str(flat))
    if cap is not None:
        data[cap[0]] = {"excl_vat": cap[1]}
    start = datetime(2026, 10, 5, 8, tzinfo=UTC)
    priced = price_session(
        tariff=parse_tariff(data),
        periods=[ChargingPeriod(start=start, dimensions={"ENERGY": kwh})],
        start=start,
        end=start + timedelta(hours=1),
        vat_rates=RATES,
    )
    groups = [
        ChargeGroup(
            component=line.component,
            unit=line.unit,
            unit_price=line.unit_price,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            quantity=line.quantity,
            net=line.net,
            session_id=1,
        )
        for line in priced.lines
    ]
    lines = compose_lines(groups, content=CONTENT, language="en")
    summary, total_net, _total_vat = vat_summary(lines)

    assert all(D(row["vat"]) >= 0 and D(row["net"]) >= 0 for row in summary)
    for line in lines:
        assert line.net == round_money(line.quantity * line.unit_price), line
    assert total_net == round_money(priced.totals.total_cost.excl_vat)


# --- the admin -------------------------------------------------------------------------------


def test_billing_managers_edit_tax_rules_and_accountants_only_see_them(db):
    from django.contrib.auth.models import Group

    manager = set(
        Group.objects.get(name="Billing manager").permissions.values_list("codename", flat=True)
    )
    accountant = set(
        Group.objects.get(name="Accountant").permissions.values_list("codename", flat=True)
    )
    assert {"add_taxrule", "change_taxrule", "change_vatregistration"} <= manager
    assert "view_taxrule" in accountant and "change_taxrule" not in accountant


def test_the_admin_adds_a_rate_change_as_a_new_rule(admin_client):
    response = admin_client.post(
        "/admin/invoicing/taxrule/add/",
        {
            "country": "de",
            "category": "electricity",
            "valid_from": "2027-01-01",
            "rate": "16",
            "rate_reason": "",
            "individual": "charge",
            "business_domestic": "charge",
            "business_foreign": "reverse_charge",
            "business_foreign_text": "Reverse charge (Art. 196 Directive 2006/112/EC).",
        },
    )
    assert response.status_code == 302, response.content
    rule = TaxRule.objects.get(valid_from=date(2027, 1, 1), category="electricity")
    assert (rule.country, rule.rate) == ("DE", D("16.00"))


def test_a_session_whose_tariff_vat_disagrees_with_the_rule_is_flagged(operator, admin_client):
    tariff = _tariff("OWN-VAT")
    tariff["elements"][0]["price_components"][0]["vat"] = D("10")
    scenario = Scenario("tariff VAT", country="FR", tariff=tariff)
    document = _issue(operator, scenario)

    assert [r["rate"] for r in document.vat_summary] == ["20.00"]  # the document follows the rule
    page = admin_client.get("/admin/charging/chargingsession/").content.decode()
    assert "electricity 10 % ≠ FR 20 %" in page
