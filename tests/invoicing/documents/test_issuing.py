"""Per-session documents: who gets which kind, what is frozen on it, and nothing twice."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest

from customers.models import Customer
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import (
    BilledSession,
    Document,
    DocumentKind,
    DocumentLine,
    InvoicingSettings,
    TaxRule,
)
from tests.factories import CompanyCustomerFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def lines_of(document):
    return [
        (line.service, line.description, line.quantity, line.unit, line.unit_price, line.net)
        for line in document.lines.all()
    ]


def test_a_per_session_customer_gets_an_invoice_for_each_session(
    charge, per_session_customer, invoicing_settings
):
    (session,) = charge(per_session_customer)

    (invoice,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))

    assert (invoice.kind, invoice.status, invoice.display_number) == (
        DocumentKind.INVOICE,
        "issued",
        "INV-000001",
    )
    assert lines_of(invoice) == [
        ("energy", "Energy", Decimal("10.000"), "kWh", Decimal("0.4"), Decimal("4.00")),
        ("parking_time", "Idle (parking) time", Decimal("5.000"), "minute", Decimal("0.1"),
         Decimal("0.50")),
        ("connection_fee", "Connection fee", Decimal("1.000"), "package", Decimal("1"),
         Decimal("1.00")),
    ]  # fmt: skip
    assert {line.session_id for line in invoice.lines.all()} == {session.pk}
    assert invoice.vat_summary == [{"rate": "19.00", "net": "5.50", "vat": "1.05", "gross": "6.55"}]
    assert (invoice.total_net, invoice.total_vat, invoice.total_gross) == (
        Decimal("5.50"),
        Decimal("1.05"),
        Decimal("6.55"),
    )
    assert invoice.issue_date == date(2026, 10, 5)
    assert invoice.due_date == date(2026, 10, 5) + timedelta(days=14)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 10, 5), date(2026, 10, 5))
    assert invoice.session_count == 1
    assert invoice.total_energy_kwh == Decimal("10.000")
    assert invoice.total_duration_seconds == 3600
    assert invoice.delivery_country == "DE"
    assert list(invoice.billed_sessions.values_list("session_id", flat=True)) == [session.pk]


def test_the_document_freezes_supplier_and_recipient_details(
    charge, per_session_customer, operator
):
    (session,) = charge(per_session_customer)
    (invoice,) = issue_session_documents(session_ids=[session.pk])

    per_session_customer.name = "Someone Else"
    per_session_customer.save()
    operator.legal_name = "Renamed GmbH"
    operator.save()

    invoice.refresh_from_db()
    assert invoice.recipient_name != "Someone Else"
    assert invoice.recipient_email == per_session_customer.email
    assert invoice.profile.supplier["legal_name"] == "VoltWay Charging GmbH"
    assert invoice.profile.supplier["vat_id"] == "DE136695976"


def test_issuing_twice_issues_nothing_twice(charge, per_session_customer):
    (session,) = charge(per_session_customer)

    first = issue_session_documents(session_ids=[session.pk])
    again = issue_session_documents(session_ids=[session.pk, session.pk])

    assert len(first) == 1
    assert again == []
    assert Document.objects.count() == 1


def test_re_delivered_session_is_not_billed_again(charge, per_session_customer, operator, evse):
    from sessions.services import ingest_sessions

    (session,) = charge(per_session_customer)
    issue_session_documents(session_ids=[session.pk])
    payload = {
        "source_id": session.source_id,
        "evse_id": evse.evse_id,
        "tariff_id": "AC-1",
        "start": session.started_at.isoformat(),
        "end": session.ended_at.isoformat(),
        "energy_kwh": "10.000",
        "customer_id": per_session_customer.pk,
    }

    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])

    assert outcome.status == "duplicate"
    assert issue_session_documents(session_ids=[outcome.session_id]) == []
    assert Document.objects.count() == 1


def test_numbers_are_consecutive_and_each_document_kind_has_its_own_series(
    charge, per_session_customer, operator, invoicing_settings
):
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    sessions = charge(per_session_customer, count=3)
    walk_in = charge(None, count=2)

    issued = issue_session_documents(session_ids=[s.pk for s in sessions + walk_in])

    assert sorted(d.display_number for d in issued) == [
        "INV-000001",
        "INV-000002",
        "INV-000003",
        "SR-000001",
        "SR-000002",
    ]


def test_walk_in_sessions_get_a_sales_receipt_only_with_always_issue(
    charge, invoicing_settings, operator
):
    anonymous = charge(None)
    ad_hoc = charge(None, ad_hoc_email="walkin@example.org")

    assert issue_session_documents(session_ids=[anonymous[0].pk, ad_hoc[0].pk]) == []

    invoicing_settings.always_issue = True
    invoicing_settings.save()
    # Sessions stored without a document stay so (docs/invoicing.md); new ones get receipts.
    assert issue_session_documents(session_ids=[anonymous[0].pk, ad_hoc[0].pk]) == []
    anonymous = charge(None)
    ad_hoc = charge(None, ad_hoc_email="walkin@example.org")
    receipts = issue_session_documents(session_ids=[anonymous[0].pk, ad_hoc[0].pk])

    assert [(r.kind, r.customer.kind) for r in receipts] == [
        (DocumentKind.SALES_RECEIPT, Customer.Kind.ANONYMOUS),
        (DocumentKind.SALES_RECEIPT, Customer.Kind.AD_HOC),
    ]
    assert receipts[0].recipient_name == ""  # a walk-in receipt names no one
    assert receipts[1].recipient_email == "walkin@example.org"


def test_a_driver_who_asked_for_no_invoice_gets_a_receipt_only_with_always_issue(
    charge, operator, invoicing_settings
):
    driver = CustomerFactory(operator=operator, requires_invoice=False, billing_mode="per_session")
    (session,) = charge(driver)

    assert issue_session_documents(session_ids=[session.pk]) == []

    invoicing_settings.always_issue = True
    invoicing_settings.save()
    assert issue_session_documents(session_ids=[session.pk]) == []
    (session,) = charge(driver)
    (receipt,) = issue_session_documents(session_ids=[session.pk])
    assert receipt.kind == DocumentKind.SALES_RECEIPT
    assert receipt.recipient_name == driver.name


def test_pro_forma_setting_issues_pro_forma_documents(
    charge, per_session_customer, invoicing_settings
):
    invoicing_settings.document_type = InvoicingSettings.DocumentType.PRO_FORMA
    invoicing_settings.save()
    (session,) = charge(per_session_customer)

    (document,) = issue_session_documents(session_ids=[session.pk])

    assert (document.kind, document.display_number) == (DocumentKind.PRO_FORMA, "PF-000001")


def test_collect_only_issues_nothing_for_anyone(charge, operator, invoicing_settings):
    invoicing_settings.issuing_schedule = InvoicingSettings.IssuingSchedule.COLLECT_ONLY
    invoicing_settings.always_issue = True
    invoicing_settings.save()
    sessions = (
        charge(
            CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
        )
        + charge(CompanyCustomerFactory(operator=operator))
        + charge(None)
        + charge(None, ad_hoc_email="walkin@example.org")
    )

    assert issue_session_documents(session_ids=[s.pk for s in sessions]) == []
    assert not Document.objects.exists()
    assert all(s.priced_at and s.total_gross for s in sessions)  # the data stays available


def test_monthly_customers_are_not_billed_per_session(charge, monthly_company):
    (session,) = charge(monthly_company)

    assert issue_session_documents(session_ids=[session.pk]) == []


def test_an_invoice_is_not_issued_without_the_mandatory_details(
    charge, operator, invoicing_settings, caplog
):
    company = CompanyCustomerFactory(operator=operator, vat_id="", billing_mode="per_session")
    (session,) = charge(company)

    assert issue_session_documents(session_ids=[session.pk]) == []
    assert "VAT ID is required" in caplog.text
    assert not BilledSession.objects.exists()

    company.vat_id = "DE136695976"
    company.save()
    (invoice,) = issue_session_documents(session_ids=[session.pk])
    assert invoice.recipient_vat_id == "DE136695976"


def test_single_row_layout_bills_one_services_row_per_vat_rate(
    charge, per_session_customer, invoicing_settings
):
    invoicing_settings.services_table = InvoicingSettings.ServicesTable.SINGLE
    invoicing_settings.services_label = "Ladeservice"
    invoicing_settings.save()
    TaxRule.objects.create(
        country="DE", category="electricity", valid_from=date(2026, 1, 1), rate=Decimal("7.00")
    )
    (session,) = charge(per_session_customer)

    (invoice,) = issue_session_documents(session_ids=[session.pk])

    assert [(line.description, line.vat_rate, line.net) for line in invoice.lines.all()] == [
        ("Ladeservice", Decimal("7.00"), Decimal("4.00")),
        ("Ladeservice", Decimal("19.00"), Decimal("1.50")),
    ]
    assert invoice.vat_summary == [
        {"rate": "7.00", "net": "4.00", "vat": "0.28", "gross": "4.28"},
        {"rate": "19.00", "net": "1.50", "vat": "0.29", "gross": "1.79"},
    ]
    assert invoice.total_gross == Decimal("6.07")


def test_hide_energy_leaves_no_kwh_on_the_lines(charge, per_session_customer, invoicing_settings):
    invoicing_settings.hide_energy = True
    invoicing_settings.save()
    (session,) = charge(per_session_customer)

    (invoice,) = issue_session_documents(session_ids=[session.pk])

    assert [(line.description, line.unit) for line in invoice.lines.all()] == [
        ("EV Charging Services", DocumentLine.Unit.PACKAGE)
    ]
    assert invoice.total_net == Decimal("5.50")
    assert invoice.profile.content["hide_energy"] is True


def test_settings_changes_leave_issued_documents_untouched(
    charge, per_session_customer, invoicing_settings
):
    (session,) = charge(per_session_customer)
    (invoice,) = issue_session_documents(session_ids=[session.pk])
    before = (
        lines_of(invoice),
        invoice.vat_summary,
        invoice.total_gross,
        invoice.due_date,
        invoice.profile.content,
    )

    invoicing_settings.services_table = InvoicingSettings.ServicesTable.SINGLE
    invoicing_settings.services_label = "Charging"
    invoicing_settings.payment_grace_days = 60
    invoicing_settings.electricity_vat_rate = Decimal("5.00")
    invoicing_settings.show_energy = False
    invoicing_settings.notice = "New notice"
    invoicing_settings.save()

    invoice = Document.objects.get(pk=invoice.pk)
    after = (
        lines_of(invoice),
        invoice.vat_summary,
        invoice.total_gross,
        invoice.due_date,
        invoice.profile.content,
    )
    assert after == before
    (later,) = issue_session_documents(session_ids=[charge(per_session_customer)[0].pk])
    assert later.profile_id != invoice.profile_id
    assert later.profile.content["notice"] == "New notice"
    assert later.due_date == later.issue_date + timedelta(days=60)


def test_the_customer_language_is_frozen_on_the_document(charge, operator, invoicing_settings):
    greek = CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session", language="el"
    )
    silent = CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session", language=""
    )
    invoicing_settings.default_language = "fr"
    invoicing_settings.save()

    issued = issue_session_documents(session_ids=[charge(greek)[0].pk, charge(silent)[0].pk])

    assert [d.language for d in issued] == ["el", "fr"]


@pytest.mark.django_db(transaction=True)
def test_ingest_queues_the_per_session_document_on_a_real_worker(
    celery_worker_thread, charge, per_session_customer, monthly_company
):
    (session,) = charge(per_session_customer)
    (monthly,) = charge(monthly_company)

    deadline = time.monotonic() + 20
    while not Document.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    (invoice,) = Document.objects.all()
    assert list(invoice.billed_sessions.values_list("session_id", flat=True)) == [session.pk]
    assert not BilledSession.objects.filter(session=monthly).exists()
