"""DATEV export (issue 18): a month of invoices, receipts, a credit note, reverse charges in two
countries, French VAT next to German VAT, and payments, read back with DATEV's column layout.

The batch is read with the csv module in Windows-1252, like DATEV reads it; the checks are what
an accountant relies on: every document's gross is booked once, every booking balances, each
revenue account holds what the documents say, and what cannot be mapped is refused by name.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from cpo_portal.kernel.periods import previous_period, today_for
from customers.models import Customer
from invoicing.accounting.datev import format as extf
from invoicing.accounting.datev.bookings import UnmappedAccounts
from invoicing.accounting.datev.export import export_datev
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.models import (
    DatevSettings,
    DebtorAccount,
    Document,
    DocumentKind,
    Operator,
    RevenueAccount,
    VatRegistration,
)
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from invoicing.payments.recording import record_payment
from invoicing.payments.refunds import refund_credit_note
from sessions.models import ChargingSession
from sessions.services import import_tariff, ingest_sessions
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.factories import CustomerFactory, EVSEFactory

D = Decimal
OCTOBER = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
TARIFF = {
    "id": "AC-DATEV",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": D("0.45"), "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": D("6.00"), "step_size": 60}]},
    ],
}
ZONES = {"DE": "Europe/Berlin", "FR": "Europe/Paris", "GR": "Europe/Athens"}


def signed(row: dict) -> Decimal:
    """A row's amount as seen from its Konto: debit positive, credit negative."""
    value = D(row["Umsatz (ohne Soll/Haben-Kz)"].replace(",", "."))
    return value if row["Soll/Haben-Kennzeichen"] == "S" else -value


def read_extf(data: bytes) -> tuple[list[str], list[str], list[dict]]:
    """Header record, column names and rows of an EXTF file, read as DATEV reads it."""
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    lines = list(csv.reader(io.StringIO(data.decode("cp1252"), newline=""), delimiter=";"))
    header, columns, *rows = lines
    return header, columns, [dict(zip(columns, row, strict=True)) for row in rows]


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def month(operator, invoicing_settings):
    """A month with every kind of booking, issued today (the export's period)."""
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    VatRegistration.objects.create(operator=operator, country="FR", vat_id="FR58399360817")
    VatRegistration.objects.create(operator=operator, country="GR", vat_id="EL094014201")
    DatevSettings.objects.create(
        operator=operator, consultant_number=29098, client_number=55003, initials="VW"
    )
    tariff = import_tariff(operator=operator, data=TARIFF)
    evses = {
        country: EVSEFactory(
            location__operator=operator,
            location__country=country,
            location__time_zone=zone,
            evse_id=f"{country}*VWY*E1",
        )
        for country, zone in ZONES.items()
    }
    anna = CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
    walk_in = CustomerFactory(
        operator=operator, requires_invoice=False, billing_mode="per_session", name="Walk In"
    )
    fleet_fr = CustomerFactory(
        operator=operator,
        kind=Customer.Kind.COMPANY,
        company_name="Transports Rapides SARL",
        vat_id="FR40303265045",
        country="FR",
        requires_invoice=True,
        billing_mode="monthly",
    )
    fleet_de = CustomerFactory(
        operator=operator,
        kind=Customer.Kind.COMPANY,
        company_name="Logistik Nord GmbH",
        vat_id="DE811907980",
        requires_invoice=True,
        billing_mode="monthly",
    )
    counter = iter(range(1, 1000))

    def charge(customer, country, kwh="12.345", idle=7):
        begin = OCTOBER + timedelta(hours=3 * next(counter))
        payload = {
            "source_id": f"DATEV-{next(counter)}",
            "evse_id": evses[country].evse_id,
            "tariff_id": tariff.ocpi_id,
            "start": begin.isoformat(),
            "end": (begin + timedelta(minutes=50)).isoformat(),
            "energy_kwh": kwh,
            "idle_minutes": idle,
        }
        if customer is None:
            payload["ad_hoc_email"] = "someone@example.org"
        else:
            payload["customer_id"] = customer.pk
        (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
        assert outcome.status == "created", outcome.errors
        return outcome.session_id

    per_session = [
        charge(anna, "DE"),
        charge(anna, "DE", kwh="3.210"),
        charge(walk_in, "DE", kwh="7.777", idle=0),
        charge(None, "FR", kwh="5.555", idle=0),  # an ad-hoc driver: the walk-in debtor
    ]
    for country in ("DE", "FR", "GR", "DE", "GR"):
        charge(fleet_fr, country, kwh="21.111")
    charge(fleet_de, "DE", kwh="40.000", idle=12)
    documents = issue_session_documents(session_ids=per_session)
    run = run_billing(operator=operator, period=OCTOBER.date().replace(day=1))
    assert run.customers_failed == 0
    first_invoice = next(d for d in documents if d.customer_id == anna.pk)
    credit_note, _ = issue_credit_note(document=first_invoice, reason="Wrong driver")
    fleet_invoice = Document.objects.get(customer=fleet_de)
    today = today_for(operator)
    record_payment(document=fleet_invoice, amount=fleet_invoice.total_gross, paid_on=today)
    return {
        "period": today.replace(day=1),
        "anna": anna,
        "walk_in": walk_in,
        "fleet_fr": fleet_fr,
        "fleet_de": fleet_de,
        "credit_note": credit_note,
        "credited": first_invoice,
        "paid": fleet_invoice,
    }


def test_every_document_is_booked_once_and_the_batch_balances(operator, month):
    export = export_datev(operator=operator, period=month["period"])
    files = unzip(export.content)
    period = f"{month['period']:%Y-%m}"
    assert set(files) == {f"EXTF_Buchungsstapel_{period}.csv", f"EXTF_Debitoren_{period}.csv"}
    header, columns, rows = read_extf(files[f"EXTF_Buchungsstapel_{period}.csv"])
    first_day, last_day = f"{month['period']:%Y%m}01", header[15]
    assert re.fullmatch(
        rf'"EXTF";700;21;"Buchungsstapel";13;\d{{17}};;"RE";"";"";29098;55003;'
        rf'{month["period"]:%Y}0101;4;{first_day};{last_day};"Revenue {period}";"VW";1;0;0;'
        r'"EUR";;"";;;"03";;;"";""',
        files[f"EXTF_Buchungsstapel_{period}.csv"].decode("cp1252").split("\r\n")[0],
    )

    # The header record (DATEV "Header"): EXTF 700, category 21 "Buchungsstapel" version 13.
    assert header[:5] == ["EXTF", "700", "21", "Buchungsstapel", "13"]
    assert len(header) == 31
    assert header[10:14] == ["29098", "55003", f"{month['period']:%Y}0101", "4"]
    assert header[14] == f"{month['period']:%Y%m}01"
    assert header[15][:6] == f"{month['period']:%Y%m}"
    assert header[17] == "VW" and header[21] == "EUR" and header[26] == "03"
    assert len(columns) == 125
    assert columns[:11] == [
        "Umsatz (ohne Soll/Haben-Kz)",
        "Soll/Haben-Kennzeichen",
        "WKZ Umsatz",
        "Kurs",
        "Basis-Umsatz",
        "WKZ Basis-Umsatz",
        "Konto",
        "Gegenkonto (ohne BU-Schlüssel)",
        "BU-Schlüssel",
        "Belegdatum",
        "Belegfeld 1",
    ]
    assert columns[13] == "Buchungstext"

    documents = list(
        Document.objects.filter(operator=operator).exclude(kind=DocumentKind.PRO_FORMA)
    )
    kinds = {d.kind for d in documents}
    assert kinds == {"invoice", "sales_receipt", "credit_note"}
    settings = DatevSettings.objects.get()
    bank = settings.bank_account
    debtors = defaultdict(lambda: settings.walk_in_debtor)
    debtors.update(DebtorAccount.objects.values_list("customer_id", "number"))
    ad_hoc = Customer.objects.get(kind=Customer.Kind.AD_HOC)
    assert any(d.customer_id == ad_hoc.pk for d in documents)

    # Every document's gross is booked exactly once, on its customer's debtor account.
    booked = defaultdict(Decimal)
    for row in rows:
        if int(row["Konto"]) != bank:
            booked[(row["Belegfeld 1"], int(row["Konto"]))] += signed(row)
        assert row["Belegdatum"] == f"{today_for(operator):%d%m}"
        assert row["WKZ Umsatz"] == "EUR"
    expected = {(d.display_number, debtors[d.customer_id]): d.total_gross for d in documents}
    assert dict(booked) == expected
    assert ad_hoc.pk not in set(DebtorAccount.objects.values_list("customer_id", flat=True))
    # Two VAT rates and two reverse charges among them, each on its own revenue account.
    rates = {line.vat_rate for d in documents for line in d.lines.all()}
    assert {D("19.00"), D("20.00"), D("0.00")} <= rates

    # Each booking is complete (Konto against Gegenkonto), so per account debits equal credits
    # across the batch, and every account ends where the documents and payments say.
    balance = defaultdict(Decimal)
    for row in rows:
        balance[int(row["Konto"])] += signed(row)
        balance[int(row["Gegenkonto (ohne BU-Schlüssel)"])] -= signed(row)
    assert sum(balance.values()) == 0
    paid = month["paid"]
    assert balance[bank] == paid.total_gross
    for customer in (
        month["anna"],
        month["walk_in"],
        month["fleet_fr"],
        month["fleet_de"],
        ad_hoc,
    ):
        owed = sum((d.total_gross for d in documents if d.customer_id == customer.pk), D(0))
        if customer == month["fleet_de"]:
            owed -= paid.total_gross
        assert balance[debtors[customer.pk]] == owed
    assert balance[debtors[month["fleet_de"].pk]] == 0  # paid in full

    fr = Document.objects.get(customer=month["fleet_fr"])
    summary = {(row["rate"], row.get("note", "")) for row in fr.vat_summary}
    assert len(summary) == 2  # 20 % French VAT, and one reverse-charge row for DE and GR
    by_account = defaultdict(Decimal)
    for row in rows:
        if row["Belegfeld 1"] == fr.display_number:
            by_account[int(row["Gegenkonto (ohne BU-Schlüssel)"])] += signed(row)
    # DE reverse charge on 8337, GR reverse charge on 8336, French VAT on 8320: all three
    # places of one invoice, adding up to its gross.
    assert set(by_account) == {8337, 8336, 8320}
    assert sum(by_account.values()) == fr.total_gross
    cost = defaultdict(Decimal)
    for session in ChargingSession.objects.filter(customer=month["fleet_fr"]):
        cost[session.evse.location.country] += session.total_net
    assert (by_account[8337], by_account[8336]) == (cost["DE"], cost["GR"])
    rc_rows = [r for r in rows if r["Gegenkonto (ohne BU-Schlüssel)"] in {"8336", "8337"}]
    assert {r["EU-Land u. UStID (Bestimmung)"] for r in rc_rows} == {"FR40303265045"}
    french = [r for r in rows if r["Gegenkonto (ohne BU-Schlüssel)"] == "8320"]
    assert len(french) == 2  # the fleet's invoice and the ad-hoc driver's receipt
    assert {r["EU-Land u. UStID (Bestimmung)"] for r in french} == {"FR"}
    assert {r["EU-Steuersatz (Bestimmung)"] for r in french} == {"20,00"}
    # Automatic accounts compute their VAT: no BU key anywhere.
    assert {row["BU-Schlüssel"] for row in rows} == {""}

    # The credit note is on the other side and names the invoice it cancels.
    credit_rows = [r for r in rows if r["Belegfeld 1"] == month["credit_note"].display_number]
    assert {r["Soll/Haben-Kennzeichen"] for r in credit_rows} == {"H"}
    assert {r["Beleginfo - Inhalt 1"] for r in credit_rows} == {month["credited"].display_number}
    assert all(month["credited"].display_number in r["Buchungstext"] for r in credit_rows)
    # The payment: bank against the debtor, under the invoice's number.
    (payment_row,) = [r for r in rows if int(r["Konto"]) == bank]
    assert payment_row["Belegfeld 1"] == paid.display_number
    assert int(payment_row["Gegenkonto (ohne BU-Schlüssel)"]) == debtors[paid.customer_id]


def test_a_credit_note_books_the_invoice_back_on_the_same_accounts(operator, month):
    fr = Document.objects.get(customer=month["fleet_fr"])
    credit_note, _ = issue_credit_note(document=fr, reason="Wrong fleet")
    files = unzip(export_datev(operator=operator, period=month["period"]).content)
    _header, _columns, rows = read_extf(files[f"EXTF_Buchungsstapel_{month['period']:%Y-%m}.csv"])

    def booked(number):
        return sorted(
            (
                r["Gegenkonto (ohne BU-Schlüssel)"],
                r["Umsatz (ohne Soll/Haben-Kz)"],
                r["Soll/Haben-Kennzeichen"],
            )
            for r in rows
            if r["Belegfeld 1"] == number
        )

    invoice, credit = booked(fr.display_number), booked(credit_note.display_number)
    assert len(invoice) == 3  # DE and GR reverse charges, French VAT
    assert [(a, u, "H") for a, u, _side in invoice] == credit


def test_the_debtors_file_lists_each_booked_customer_with_a_stable_account(operator, month):
    first = unzip(export_datev(operator=operator, period=month["period"]).content)
    name = f"EXTF_Debitoren_{month['period']:%Y-%m}.csv"
    header, columns, rows = read_extf(first[name])
    assert header[:5] == ["EXTF", "700", "16", "Debitoren/Kreditoren", "5"]
    # Field for field like the example of DATEV's format description, quotes included.
    year = month["period"].year
    assert re.fullmatch(
        rf'"EXTF";700;16;"Debitoren/Kreditoren";5;\d{{17}};;"RE";"";"";29098;55003;{year}0101;'
        r'4;;;"";"";;;;"";;"";;;"03";;;"";""',
        first[name].decode("cp1252").split("\r\n")[0],
    )
    assert len(columns) == 254 and columns[:2] == ["Konto", "Name (Adressatentyp Unternehmen)"]
    by_account = {int(row["Konto"]): row for row in rows}
    # Four named customers with their own accounts, and the walk-in debtor for the ad-hoc one.
    assert len(by_account) == 5 and all(10000 <= n <= 69999 for n in by_account)
    assert by_account[69999]["Name (Adressatentyp keine Angabe)"].startswith("Walk-in")
    fleet = by_account[DebtorAccount.objects.get(customer=month["fleet_fr"]).number]
    assert fleet["Name (Adressatentyp Unternehmen)"] == "Transports Rapides SARL"
    assert (fleet["EU-Mitgliedstaat"], fleet["EU-USt-IdNr."]) == ("FR", "40303265045")
    assert fleet["Adressatentyp"] == "2"

    # A new customer next month gets the next number; nobody's number changes.
    numbers = dict(DebtorAccount.objects.values_list("customer_id", "number"))
    again = unzip(export_datev(operator=operator, period=month["period"]).content)
    assert read_extf(again[name])[2] == rows
    assert dict(DebtorAccount.objects.values_list("customer_id", "number")) == numbers
    assert sorted(numbers.values()) == list(range(10000, 10004))


def test_unmapped_supplies_are_refused_by_name_everywhere(
    operator, month, client, admin_client, tmp_path
):
    RevenueAccount.objects.filter(country="EU", treatment="charge").delete()
    expected = "SKR 03 FR electricity, VAT charged, 20.00 %"
    with pytest.raises(UnmappedAccounts) as refused:
        export_datev(operator=operator, period=month["period"])
    assert expected in refused.value.missing
    assert not DebtorAccount.objects.exists()  # nothing handed out for a refused export

    # The command: a non-zero exit with the sentence.
    with pytest.raises(CommandError, match=r"No revenue account is mapped for: .*FR electricity"):
        call_command(
            "export_datev",
            "--period",
            f"{month['period']:%Y-%m}",
            "--out",
            str(tmp_path / "never.zip"),
        )
    # The API: 400 with the list.
    api = Api(client, make_key(make_integrator(operator)))
    response = api.get("/api/v1/accounting/datev/", {"period": f"{month['period']:%Y-%m}"})
    assert response.status_code == 400
    assert expected in response.json()["unmapped"]
    # The admin: the form stays with the sentence as an error message.
    url = reverse("admin:invoicing_datevsettings_export")
    response = admin_client.post(
        url, {"operator": operator.pk, "period": f"{month['period']:%Y-%m}"}, follow=True
    )
    assert response.status_code == 200
    assert "No revenue account is mapped for" in response.content.decode()
    assert expected in response.content.decode()


def test_the_admin_api_and_command_deliver_the_same_zip(
    operator, month, client, admin_client, tmp_path
):
    period = f"{month['period']:%Y-%m}"
    response = admin_client.get(reverse("admin:invoicing_datevsettings_changelist"))
    assert reverse("admin:invoicing_datevsettings_export") in response.content.decode()
    response = admin_client.post(
        reverse("admin:invoicing_datevsettings_export"),
        {"operator": operator.pk, "period": period},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    from_admin = unzip(response.content)

    api = Api(client, make_key(make_integrator(operator), scope="read"))
    response = api.get("/api/v1/accounting/datev/", {"period": period})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    from_api = unzip(response.content)
    assert api.get("/api/v1/accounting/datev/").status_code == 400
    bad = api.get("/api/v1/accounting/datev/", {"period": "2026-13"})
    assert bad.status_code == 400 and "period" in bad.json()

    target = tmp_path / "datev.zip"
    call_command("export_datev", "--period", period, "--out", str(target))
    with open(target, "rb") as handle:
        from_command = unzip(handle.read())
    for files in (from_api, from_command):
        assert set(files) == set(from_admin)
        for name, data in files.items():
            # Identical but for the header's creation time (field 6).
            assert read_extf(data)[1:] == read_extf(from_admin[name])[1:]


def test_an_operator_without_datev_settings_is_told_where_to_enter_them(operator, client):
    api = Api(client, make_key(make_integrator(operator)))
    response = api.get("/api/v1/accounting/datev/", {"period": "2026-10"})
    assert response.status_code == 400
    assert "DATEV settings" in response.json()["operator"][0]


def test_text_fields_are_quoted_and_amounts_use_a_decimal_comma():
    header = extf.BatchHeader(
        consultant_number=1001,
        client_number=1,
        fiscal_year_start=datetime(2026, 1, 1).date(),
        account_length=4,
        chart="04",
        date_from=datetime(2026, 11, 1).date(),
        date_to=datetime(2026, 11, 30).date(),
        label="Revenue",
    )
    data = extf.write_file(
        header,
        category=extf.BOOKING_CATEGORY,
        name=extf.BOOKING_FORMAT,
        version=extf.BOOKING_VERSION,
        columns=extf.BOOKING_COLUMNS,
        rows=[
            {
                "Umsatz (ohne Soll/Haben-Kz)": extf.amount(D("1234.5")),
                "Soll/Haben-Kennzeichen": "S",
                "Konto": 10000,
                "Gegenkonto (ohne BU-Schlüssel)": 4400,
                "Belegdatum": extf.day_month(datetime(2026, 11, 3).date()),
                "Buchungstext": 'Müller "Fleet"\nGmbH',
            }
        ],
    )
    record = data.decode("cp1252").split("\r\n")[2]
    assert record.startswith('1234,50;"S";;;;;10000;4400;;0311;')
    assert '"Müller ""Fleet"" GmbH"' in record
    assert "Müller".encode("cp1252") in data
    # Belegfeld 1 keeps what DATEV accepts of a number: INV_2026.0042 → INV20260042.
    assert extf.belegfeld("INV_2026.0042 ") == "INV20260042"
    assert extf.belegfeld("INV-2027-000001") == "INV-2027-000001"


def test_accountants_download_the_batch_and_support_staff_may_not(
    operator, month, client, django_user_model
):
    url = reverse("admin:invoicing_datevsettings_export")
    form = {"operator": operator.pk, "period": f"{month['period']:%Y-%m}"}
    for role, status in (("Accountant", 200), ("Support", 403)):
        user = django_user_model.objects.create_user(role, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        response = client.post(url, form)
        assert response.status_code == status, role
    # The accountant sees the account map but cannot change it.
    client.force_login(django_user_model.objects.get(username="Accountant"))
    entry = RevenueAccount.objects.first()
    change = reverse("admin:invoicing_revenueaccount_change", args=[entry.pk])
    assert client.get(change).status_code == 200
    client.post(change, {"account": 1})
    entry.refresh_from_db()
    assert entry.account != 1


@pytest.mark.django_db
def test_the_demo_data_maps_and_last_month_has_a_batch():
    call_command("seed_demo", customers=20, months=2, stdout=io.StringIO(), stderr=io.StringIO())
    operator = Operator.objects.get(name="VoltWay")
    today = today_for(operator)
    foreign = []
    for period in (previous_period(today), today.replace(day=1)):
        export = export_datev(operator=operator, period=period)  # nothing unmapped
        assert export.bookings > 0, period
        _header, _columns, rows = read_extf(
            unzip(export.content)[f"EXTF_Buchungsstapel_{period:%Y-%m}.csv"]
        )
        for row in rows:
            if row["WKZ Umsatz"] == "EUR":
                assert (row["Kurs"], row["Basis-Umsatz"], row["WKZ Basis-Umsatz"]) == ("", "", "")
            else:
                foreign.append(row)
    # Anna's Zürich invoices are in CHF: booked with the demo's rate and their amount in EUR.
    assert foreign and {row["WKZ Umsatz"] for row in foreign} == {"CHF"}
    for row in foreign:
        assert row["Kurs"] == "0,935000" and row["WKZ Basis-Umsatz"] == "EUR"
        chf = D(row["Umsatz (ohne Soll/Haben-Kz)"].replace(",", "."))
        eur = D(row["Basis-Umsatz"].replace(",", "."))
        assert eur == (chf / D("0.935")).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def bank_rows(operator, period):
    export = export_datev(operator=operator, period=period)
    _header, _columns, rows = read_extf(
        unzip(export.content)[f"EXTF_Buchungsstapel_{period:%Y-%m}.csv"]
    )
    bank = DatevSettings.objects.get(operator=operator).bank_account
    return [r for r in rows if int(r["Konto"]) == bank]


def test_a_returned_payment_books_the_reversal_on_the_other_side(operator, month):
    paid = month["paid"]
    payment = paid.payments.get().transaction
    ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="manual",
            provider_reference="chargeback-1",
            kind=TransactionKind.CHARGEBACK,
            status="succeeded",
            amount=payment.amount,
            currency="EUR",
            parent=payment,
            failure_reason="fraudulent",
        )
    )

    received, reversed_ = bank_rows(operator, month["period"])

    assert (received["Soll/Haben-Kennzeichen"], reversed_["Soll/Haben-Kennzeichen"]) == ("S", "H")
    assert received["Umsatz (ohne Soll/Haben-Kz)"] == reversed_["Umsatz (ohne Soll/Haben-Kz)"]
    assert reversed_["Belegfeld 1"] == paid.display_number
    assert reversed_["Buchungstext"].startswith("Reversal")
    assert sum(signed(r) for r in (received, reversed_)) == 0


def test_a_refunded_credit_note_books_the_payout(operator, month):
    paid = month["paid"]
    note, _ = issue_credit_note(document=paid, reason="Wrong tariff")
    refund_credit_note(credit_note=note)

    rows = bank_rows(operator, month["period"])

    (payout,) = [r for r in rows if r["Belegfeld 1"] == note.display_number]
    assert payout["Soll/Haben-Kennzeichen"] == "H"
    assert signed(payout) == note.total_gross  # the bank pays out what the note credits
    assert payout["Buchungstext"].startswith("Refund")
    assert (
        int(payout["Gegenkonto (ohne BU-Schlüssel)"])
        == DebtorAccount.objects.get(customer=paid.customer).number
    )
