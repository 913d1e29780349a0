"""The set-up commands `make run` uses: demo data loaded once, an admin user with a login."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import facturx
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.urls import reverse
from lxml import etree
from pypdf import PdfReader

from cpo_portal.kernel.integrations.models import ApiKey, Integrator
from cpo_portal.kernel.periods import add_months, period_bounds, today_for
from customers.models import Customer, Subscription
from customers.notifications.models import OutboundMessage
from customers.notifications.sending import send_due_messages
from customers.services import create_portal_account
from invoicing.dashboard.models import SessionMonth
from invoicing.documents.models import RecipientCorrection
from invoicing.einvoices import validation
from invoicing.models import Document, DocumentLine, EInvoice, HeldSession, Operator
from invoicing.output import pdf
from invoicing.payments.models import (
    CollectionRun,
    PaymentTransaction,
    SepaMandate,
    StatementCredit,
)
from invoicing.terminals.models import TerminalTransaction
from sessions.models import ChargingSession, Location, SessionChargeLine

# Twenty customers over two months: every kind of demo data, quickly.
SMALL = {"customers": 20, "months": 2}


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_loads_every_kind_of_demo_data_with_priced_sessions():
    output = run("seed_demo", **SMALL)

    # The priced sessions it reports, plus yesterday's 24 paid at the card terminals; the one
    # session whose signed meter data were altered waits in quarantine, never priced.
    quarantined = ChargingSession.objects.get(quarantine="open")
    assert quarantined.meter_issues == [
        "Record 2: the signature does not match the data (altered, or signed with another key)."
    ]
    assert "signed meter data (1 quarantined)" in output
    sessions = ChargingSession.objects.exclude(pk=quarantined.pk)
    reported = int(re.search(r"(\d+) priced sessions", output).group(1))
    assert reported > 200 and sessions.count() == reported + 24
    signed = sessions.filter(evse__calibration_law_relevant=True)
    assert signed.exists() and not signed.exclude(meter_verdict="valid").exists()
    assert signed.filter(source_id__startswith="DEMO-ADHOC-").count() == 24
    assert Location.objects.values("country").distinct().count() >= 2
    kinds = set(Customer.objects.values_list("kind", flat=True))
    assert {"individual", "company", "anonymous", "ad_hoc"} <= kinds
    assert Customer.objects.filter(kind__in=("individual", "company")).count() == 20
    assert "21 card payments matched and 2 in review" in output
    waiting = TerminalTransaction.objects.filter(match_state="review").values_list(
        "match_explanation", flat=True
    )
    assert all("equally well" in reason for reason in waiting)
    assert not sessions.filter(total_gross__isnull=True).exists()
    assert not sessions.filter(ended_at__isnull=True).exists()
    # Every session has its breakdown, and the line nets add up to the session's net total.
    for session in sessions.annotate(lines=Count("charge_lines")):
        assert session.lines >= 1
        lines = SessionChargeLine.objects.filter(session=session)
        assert sum(line.net for line in lines) == session.total_net
        assert session.total_gross == session.total_net + session.total_vat


@pytest.mark.django_db
def test_seed_demo_charges_each_countrys_vat_and_a_foreign_fleet_a_reverse_charge():
    run("seed_demo", **SMALL)

    # German, French and Greek charging each at its own country's VAT (not 19 % everywhere).
    lines = DocumentLine.objects.filter(session__isnull=False, vat_note="").exclude(
        document__recipient_vat_id__startswith="FR", session__evse__location__country="FR"
    )
    for country, rate in (("DE", "19.00"), ("FR", "20.00"), ("GR", "24.00")):
        rates = set(
            lines.filter(session__evse__location__country=country).values_list(
                "vat_rate", flat=True
            )
        )
        assert {str(r) for r in rates} == {rate}, country
    reverse_charged = [
        document
        for document in Document.objects.filter(recipient_vat_id="FR40303265045")
        if any("Art. 194/196" in row.get("note", "") for row in document.vat_summary)
    ]
    assert reverse_charged


@pytest.mark.django_db
def test_the_demos_reverse_charge_invoice_prints_the_note_both_vat_ids_and_local_times():
    run("seed_demo", **SMALL)
    document = next(
        document
        for document in Document.objects.filter(recipient_vat_id="FR40303265045")
        if any("Art. 194/196" in row.get("note", "") for row in document.vat_summary)
    )
    countries = set(
        document.billed_sessions.values_list("session__evse__location__country", flat=True)
    )

    reader = PdfReader(io.BytesIO(pdf.render_pdf(document)))
    text = " ".join("\n".join(page.extract_text() for page in reader.pages).split())

    assert "Art. 194/196" in text
    assert "FR40303265045" in text and "DE136695976" in text  # the customer's and the supplier's
    # The breakdown names each charger's clock: Berlin and Paris CET/CEST, Athens EET/EEST.
    if "GR" in countries:
        assert re.search(r"\d\d:\d\d EES?T", text)
    if countries & {"DE", "FR"}:
        assert re.search(r"\d\d:\d\d CES?T", text)


@pytest.mark.django_db
def test_seed_demo_has_a_chf_invoice_and_states_swiss_vat_in_chf_on_eur_documents():
    run("seed_demo", **SMALL)

    chf = Document.objects.filter(currency="CHF", delivery_country="CH")
    assert chf.exists()
    assert all(row["rate"] == "8.10" for d in chf for row in d.vat_summary)
    stated = [
        entry
        for document in Document.objects.filter(currency="EUR", delivery_country__contains="CH")
        for entry in document.supply_currency_vat
    ]
    assert stated and {entry["currency"] for entry in stated} == {"CHF"}
    assert all(entry["source"] == "ECB reference rate (demo)" for entry in stated)


@pytest.mark.django_db
def test_seed_demo_fleets_get_a_valid_xrechnung_and_a_factur_x_pdf():
    run("seed_demo", **SMALL)

    monthly = EInvoice.objects.filter(
        document__kind="invoice", document__billing_run__isnull=False
    ).select_related("document")
    german = monthly.filter(document__recipient_name="Logistik Nord GmbH")
    french = monthly.filter(document__recipient_name="Transports Rapides SARL")
    assert german.exists() and french.exists()
    assert {e.format for e in german} == {"xrechnung_cii"}
    assert {e.format for e in french} == {"facturx"}
    # Validated again now, with the XSD and Schematron rules, not only as reported at issue.
    for einvoice in (german.first(), french.first()):
        report = validation.validate(bytes(einvoice.xml), fmt=einvoice.format)
        assert report.is_valid, report.failed_rules
        assert einvoice.report["valid"] is True
    assert etree.fromstring(bytes(german.first().xml)).findtext(".//{*}BuyerReference")
    # Nothing the demo bills per session is held.
    assert not HeldSession.objects.exists()
    document = french.first().document
    document_file, _created = pdf.store_document_pdf(document_id=document.pk)
    with document_file.file.open("rb") as handle:
        _name, xml = facturx.get_xml_from_pdf(handle.read(), check_xsd=False)
    assert xml == bytes(french.first().xml)


@pytest.mark.django_db
def test_seed_demo_spreads_sessions_over_the_months_asked_for():
    run("seed_demo", **SMALL)
    first = ChargingSession.objects.order_by("started_at").first().started_at
    last = ChargingSession.objects.order_by("started_at").last().started_at
    assert (last - first).days >= 58
    # The dashboard's charts show those months at once, without waiting for Beat.
    months = SessionMonth.objects.values_list("month", flat=True).distinct()
    assert len(months) >= 3
    assert SessionMonth.objects.aggregate(n=Sum("sessions"))["n"] == ChargingSession.objects.count()


@pytest.mark.django_db
def test_seed_demo_runs_once_and_a_second_run_changes_nothing():
    run("seed_demo", customers=20, months=1)
    counts = [m.objects.count() for m in (ChargingSession, Customer, Document)]
    output = run("seed_demo", customers=20, months=1)
    assert "already loaded" in output
    assert [m.objects.count() for m in (ChargingSession, Customer, Document)] == counts


@pytest.mark.django_db
def test_ensure_admin_creates_a_superuser_and_prints_how_to_log_in(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    output = run("ensure_admin")
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff
    password = (tmp_path / "admin-credentials.txt").read_text().split()[1]
    assert user.check_password(password)
    assert "/admin/" in output and password in output

    # A second run keeps the same password and still prints it.
    assert password in run("ensure_admin")


@pytest.mark.django_db
def test_ensure_admin_outside_development_requires_a_password(settings):
    settings.DEVELOPMENT = False
    with pytest.raises(CommandError, match="--password"):
        run("ensure_admin")
    run("ensure_admin", password="a-long-chosen-password")
    assert get_user_model().objects.get(username="admin").check_password("a-long-chosen-password")


@pytest.mark.django_db
def test_the_demo_looks_like_a_real_cpos_half_year():
    run("seed_demo", customers=40, months=3)
    operator = Operator.objects.get(name="VoltWay")
    today = today_for(operator)
    documents = Document.objects.filter(operator=operator)

    # Issued on the days they would have been: per-session ones on many days, monthly ones on
    # the 1st, none of them all on the day the demo was loaded.
    assert documents.values("issue_date").distinct().count() > 40
    monthly = documents.filter(billing_run__isnull=False)
    assert set(monthly.values_list("issue_date__day", flat=True)) == {1}
    assert documents.filter(issue_date__lt=today - timedelta(days=60)).exists()
    # A history: paid, partly paid, overdue, credited and corrected documents.
    assert documents.filter(status="paid").count() > documents.count() / 2
    assert documents.filter(amount_paid__gt=0, status__in=("issued", "overdue")).exists()
    assert documents.filter(status="overdue").exists()
    assert documents.filter(status="credited").exists()
    assert documents.filter(kind="credit_note", credited_document__isnull=False).exists()
    assert RecipientCorrection.objects.exists()
    assert Subscription.objects.filter(status="suspended").exists()
    # Paid through each provider: a statement, cards (demo checkout), staff, direct debit.
    providers = set(PaymentTransaction.objects.values_list("provider", flat=True))
    assert {"bank_transfer", "demo", "manual", "sepa_direct_debit"} <= providers
    assert CollectionRun.objects.filter(collection_count__gt=0).count() == 1
    checkout = r"^demo-[0-9a-f]{32}$"  # paid through the checkout page, not recorded for it
    assert PaymentTransaction.objects.filter(provider_reference__regex=checkout).exists()
    assert SepaMandate.objects.filter(status="active").exists()
    assert StatementCredit.objects.filter(outcome="review").exists()
    assert OutboundMessage.objects.exists()
    assert Integrator.objects.filter(operator=operator).exists()

    # Fleets with several cards; real-looking addresses.
    assert (
        Customer.objects.annotate(cards=Count("tokens"))
        .filter(kind="company", cards__gte=3)
        .count()
        >= 3
    )
    registered = Customer.objects.filter(kind__in=("individual", "company"))
    assert not registered.filter(street__icontains="muster").exists()
    assert not registered.filter(street__icontains="placeholder").exists()
    assert not registered.filter(street="").exists()

    # One place at a time: a card's sessions never overlap.
    sessions = ChargingSession.objects.filter(token__isnull=False).order_by("token", "started_at")
    previous = None
    for session in sessions.only("token_id", "started_at", "ended_at"):
        if previous and previous.token_id == session.token_id:
            assert session.started_at >= previous.ended_at, session
        previous = session
    # Individuals charge about 100-400 kWh in a whole month of driving.
    month = add_months(today.replace(day=1), -1)
    start, end, _first, _last = period_bounds(month, operator.time_zone)
    totals = (
        ChargingSession.objects.filter(
            customer__kind="individual", started_at__gte=start, started_at__lt=end
        )
        .values("token_id")
        .annotate(kwh=Sum("energy_kwh"))
        .values_list("kwh", flat=True)
    )
    totals = sorted(totals)
    assert 100 <= totals[len(totals) // 2] <= 400
    assert totals[-1] < 700


def test_the_demo_integrators_api_key_is_printed_with_a_request_that_works(
    operator, settings, tmp_path, client
):
    settings.VAR_DIR = tmp_path
    settings.DEVELOPMENT = True
    Integrator.objects.create(operator=operator, name="CPMS", session_source="cpms")

    output = run("ensure_demo_api_key", operator=operator.name)
    key = (tmp_path / "demo-api-key.txt").read_text().strip()
    assert f"Key:    {key}" in output
    assert f'curl -H "Authorization: Bearer {key}" http://127.0.0.1:' in output
    assert client.get("/api/v1/invoices/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200

    # The next `make run` prints the same key; no second key is made.
    assert key in run("ensure_demo_api_key", operator=operator.name)
    assert ApiKey.objects.count() == 1


def test_the_demo_api_key_is_refused_outside_development(operator, settings):
    settings.DEVELOPMENT = False
    with pytest.raises(CommandError, match="development profile"):
        run("ensure_demo_api_key", operator=operator.name)


@pytest.mark.django_db
def test_paying_in_the_demo_portal_confirms_by_e_mail_and_text_in_the_drivers_language(
    client, settings, tmp_path
):
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    settings.SMS_QUIET_HOURS = (0, 0)  # whatever the hour this test runs at
    run("seed_demo", **SMALL)
    luc = Customer.objects.get(email="luc@example.org")
    assert luc.mobile_phone == "+33612345601"
    send_due_messages()  # the demo's history, as the worker sends it after `make run`
    invoice = (
        Document.objects.filter(customer=luc, status__in=("issued", "overdue"))
        .order_by("pk")
        .first()
    )
    assert invoice is not None, "Luc pays late: an invoice of his is open"
    client.force_login(luc.user or create_portal_account(customer=luc))
    checkout = client.get(client.post(reverse("portal:invoice-pay", args=[invoice.pk]))["Location"])
    client.post(
        checkout.context["notify_url"],
        urlencode({"notification": checkout.context["pay"], "next": checkout.context["next"]}),
        content_type="application/x-www-form-urlencoded",
    )
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    mail.outbox.clear()
    texts_before = set((tmp_path / "sms").glob("*.sms"))

    send_due_messages()

    confirmations = OutboundMessage.objects.filter(
        customer=luc, event="payment_succeeded", created_at__gte=invoice.issued_at
    ).order_by("-pk")
    assert {m.channel for m in confirmations[:2]} == {"email", "sms"}
    assert all(m.language == "fr" and m.status == "sent" for m in confirmations[:2])
    assert any(luc.email in message.to for message in mail.outbox)
    (text,) = set((tmp_path / "sms").glob("*.sms")) - texts_before
    assert "+33612345601" in text.read_text()
