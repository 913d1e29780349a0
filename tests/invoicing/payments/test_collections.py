"""SEPA collection runs: one schema-valid pain.008 with every due invoice of customers with a
mandate, FRST then RCUR, pending collections in the ledger, nothing collected twice."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
from django.core.management import CommandError, call_command
from django.utils import translation
from lxml import etree

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.formatting import long_date
from cpo_portal.kernel.periods import today_for
from invoicing.documents.models import Document, DocumentStatus
from invoicing.output import pdf
from invoicing.payments import collections
from invoicing.payments.collections import (
    collect,
    pain008,
    plan_collections,
    record_return,
    settle_collections,
)
from invoicing.payments.mandates import give_mandate
from invoicing.payments.models import (
    CollectionRunState,
    PaymentTransaction,
    SequenceType,
    TransactionKind,
    TransactionStatus,
)
from invoicing.payments.providers import provider
from invoicing.tasks import settle_direct_debits
from tests.factories import CompanyCustomerFactory
from tests.invoicing.helpers import issue_invoice_for
from tests.invoicing.output.test_pdf import pages_text

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}
SCHEMA = Path(sepaxml.__file__).parent / "schemas" / "pain.008.001.02.xsd"


def read_back(run):
    """The run's file parsed, after checking it against the ISO 20022 schema."""
    with run.file.open("rb") as handle:
        tree = etree.parse(handle)
    etree.XMLSchema(etree.parse(str(SCHEMA))).assertValid(tree)
    return tree


@pytest.fixture
def creditor(invoicing_settings):
    invoicing_settings.iban = "DE02120300000000202051"
    invoicing_settings.bic = "BYLADEM1001"
    invoicing_settings.sepa_creditor_identifier = "DE98ZZZ09999999999"
    invoicing_settings.save()
    return invoicing_settings


@pytest.fixture
def collection_date(operator):
    return today_for(operator) + datetime.timedelta(days=60)


@pytest.fixture
def mandate(monthly_company):
    return give_mandate(
        customer=monthly_company, iban="DE89370400440532013000", account_holder="Ada Lovelace"
    )


def open_invoice(customer, sessions=1):
    invoice = issue_invoice_for(customer, sessions=sessions)
    Document.objects.filter(pk=invoice.pk).update(status=DocumentStatus.ISSUED)
    return Document.objects.get(pk=invoice.pk)


def test_a_run_writes_one_valid_pain008_and_records_pending_collections(
    operator, creditor, mandate, monthly_company, collection_date
):
    first, second = open_invoice(monthly_company), open_invoice(monthly_company, sessions=2)

    run = collect(operator=operator, collection_date=collection_date)

    tree = read_back(run)
    assert tree.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS) == "2"
    total = first.total_gross + second.total_gross
    assert Decimal(tree.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS)) == total
    assert tree.xpath("//p:SeqTp/text()", namespaces=NS) == ["FRST"]
    assert sorted(tree.xpath("//p:EndToEndId/text()", namespaces=NS)) == sorted(
        [first.display_number, second.display_number]
    )
    assert tree.findtext(".//p:ReqdColltnDt", namespaces=NS) == collection_date.isoformat()
    assert (run.state, run.collection_count, run.first_count, run.total) == (
        CollectionRunState.WRITTEN,
        2,
        2,
        total,
    )
    entries = PaymentTransaction.objects.filter(provider="sepa_direct_debit")
    assert {(e.kind, e.status, e.payer_iban) for e in entries} == {
        (TransactionKind.DIRECT_DEBIT, TransactionStatus.PENDING, "DE89370400440532013000")
    }
    assert {e.intended_document_id for e in entries} == {first.pk, second.pk}
    assert set(run.collections.all()) == set(entries)
    mandate.refresh_from_db()
    assert mandate.sequence_type == SequenceType.RECURRING
    first.refresh_from_db()
    assert first.status == DocumentStatus.ISSUED  # paid only once the collection went through


def test_a_run_records_its_collections_in_chunks_and_reports_progress_per_chunk(
    operator, creditor, mandate, monthly_company, collection_date, monkeypatch
):
    monkeypatch.setattr(collections, "RECORD_CHUNK", 2)
    invoices = [open_invoice(monthly_company) for _ in range(3)]
    seen = []

    run = collect(
        operator=operator,
        collection_date=collection_date,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert seen == [(2, 3), (3, 3)]
    entries = PaymentTransaction.objects.filter(provider="sepa_direct_debit")
    assert {(e.intended_document_id, e.customer_id, e.status) for e in entries} == {
        (invoice.pk, monthly_company.pk, TransactionStatus.PENDING) for invoice in invoices
    }
    assert set(run.collections.all()) == set(entries)


def test_running_again_collects_nothing_twice_and_later_invoices_go_as_rcur(
    operator, creditor, mandate, monthly_company, collection_date
):
    open_invoice(monthly_company)
    collect(operator=operator, collection_date=collection_date)

    again = collect(operator=operator, collection_date=collection_date)
    assert (again.state, again.collection_count, again.file.name) == (
        CollectionRunState.EMPTY,
        0,
        "",
    )

    later = open_invoice(monthly_company)
    run = collect(operator=operator, collection_date=collection_date)
    tree = read_back(run)
    assert tree.xpath("//p:SeqTp/text()", namespaces=NS) == ["RCUR"]
    assert tree.xpath("//p:EndToEndId/text()", namespaces=NS) == [later.display_number]
    assert (run.collection_count, run.recurring_count) == (1, 1)


def test_only_due_invoices_of_customers_with_an_active_mandate_are_collected(
    operator, creditor, mandate, monthly_company
):
    due = open_invoice(monthly_company)
    paid = open_invoice(monthly_company)
    Document.objects.filter(pk=paid.pk).update(status=DocumentStatus.PAID)
    without_mandate = open_invoice(
        CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    )

    day_before = plan_collections(operator, due.due_date - datetime.timedelta(days=1))
    on_due_date = plan_collections(operator, due.due_date)

    assert day_before == []
    assert [c.invoice.pk for c in on_due_date] == [due.pk]
    assert without_mandate.due_date <= due.due_date


def test_a_file_that_does_not_validate_is_refused_and_nothing_is_recorded(
    operator, mandate, monthly_company, collection_date
):
    open_invoice(monthly_company)
    (planned,) = plan_collections(operator, collection_date)
    with pytest.raises(InvalidInput) as refused:
        pain008(
            creditor_name="Operator",
            creditor_iban="DE02120300000000202051",
            creditor_bic="BYLADEM1001",
            creditor_id="DE98ZZZ09999999999" + "X" * 30,  # longer than the schema's 35
            collection_date=collection_date,
            collections=[planned],
            message_id="CPO-1",
        )
    assert "pain.008" in str(refused.value)
    assert not PaymentTransaction.objects.exists()


def test_a_past_date_or_a_missing_creditor_identifier_is_refused(
    operator, invoicing_settings, collection_date
):
    with pytest.raises(InvalidInput) as past:
        collect(operator=operator, collection_date=today_for(operator) - datetime.timedelta(1))
    assert list(past.value.errors) == ["date"]
    with pytest.raises(InvalidInput) as missing:
        collect(operator=operator, collection_date=collection_date)
    assert "creditor identifier" in str(missing.value)


def test_the_sepa_provider_is_registered():
    assert provider("sepa_direct_debit").name == "SEPA direct debit"


def test_the_command_collects_and_a_run_again_collects_nothing(
    operator, creditor, mandate, monthly_company, collection_date
):
    invoice = open_invoice(monthly_company)
    out = io.StringIO()
    call_command(
        "collect_direct_debits",
        date=collection_date.isoformat(),
        operator=operator.pk,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert "1 invoices (1 FRST, 0 RCUR)" in out.getvalue()
    assert str(invoice.total_gross) in out.getvalue()
    out = io.StringIO()
    call_command("collect_direct_debits", date=collection_date.isoformat(), stdout=out)
    assert "nothing is due" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "sentence"),
    [
        (["--date", "10.12.2026"], "is not a date"),
        (["--date", "2999-01-01", "--operator", "999999"], "no operator with id 999999"),
        (["--date", "2000-01-01"], "is in the past"),
    ],
)
def test_the_command_refuses_bad_input_with_a_sentence(operator, arguments, sentence):
    with pytest.raises(CommandError) as refused:
        call_command("collect_direct_debits", *arguments, stderr=io.StringIO())
    assert sentence in str(refused.value)


def test_a_collection_not_returned_within_the_settlement_period_pays_its_invoice(
    operator, creditor, mandate, monthly_company, collection_date, settings
):
    settings.SEPA_SETTLEMENT_DAYS = 5
    invoice = open_invoice(monthly_company)
    collect(operator=operator, collection_date=collection_date)

    assert settle_collections(today=collection_date + datetime.timedelta(days=4)) == 0
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED

    assert settle_collections(today=collection_date + datetime.timedelta(days=5)) == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (DocumentStatus.PAID, invoice.total_gross)
    entry = PaymentTransaction.objects.get(provider="sepa_direct_debit")
    assert entry.status == TransactionStatus.SUCCEEDED
    assert settle_collections(today=collection_date + datetime.timedelta(days=6)) == 0


def test_the_daily_task_settles_collections_whose_period_passed(
    operator, creditor, mandate, monthly_company, collection_date
):
    invoice = open_invoice(monthly_company)
    collect(operator=operator, collection_date=collection_date)
    PaymentTransaction.objects.update(value_date=today_for(operator) - datetime.timedelta(days=30))

    assert settle_direct_debits.apply().get() == 1
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID


def test_a_return_unpays_the_invoice_sets_the_mandate_to_frst_and_is_collected_again(
    operator, creditor, mandate, monthly_company, collection_date
):
    invoice = open_invoice(monthly_company)
    collect(operator=operator, collection_date=collection_date)
    settle_collections(today=collection_date + datetime.timedelta(days=5))
    collection = PaymentTransaction.objects.get(kind=TransactionKind.DIRECT_DEBIT)

    returned = record_return(collection=collection, code="AM04")

    assert returned.provider_reference == f"{invoice.display_number}/return"
    assert returned.failure_reason == "AM04 Insufficient funds"
    assert (returned.kind, returned.parent) == (TransactionKind.DIRECT_DEBIT_RETURN, collection)
    invoice.refresh_from_db()
    assert invoice.status in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)
    assert invoice.amount_paid == 0
    mandate.refresh_from_db()
    assert mandate.sequence_type == SequenceType.FIRST
    assert record_return(collection=collection, code="AM04") == returned  # entered twice: once

    run = collect(operator=operator, collection_date=collection_date)
    tree = read_back(run)
    assert tree.xpath("//p:EndToEndId/text()", namespaces=NS) == [f"{invoice.display_number}-2"]
    assert tree.xpath("//p:SeqTp/text()", namespaces=NS) == ["FRST"]


def test_a_collection_returned_before_it_settled_never_pays_and_bad_codes_are_refused(
    operator, creditor, mandate, monthly_company, collection_date
):
    invoice = open_invoice(monthly_company)
    collect(operator=operator, collection_date=collection_date)
    collection = PaymentTransaction.objects.get(kind=TransactionKind.DIRECT_DEBIT)
    with pytest.raises(InvalidInput) as refused:
        record_return(collection=collection, code="XX99")
    assert list(refused.value.errors) == ["code"]

    record_return(collection=collection, code="MD01")

    collection.refresh_from_db()
    assert collection.status == TransactionStatus.FAILED
    assert settle_collections(today=collection_date + datetime.timedelta(days=30)) == 0
    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.ISSUED


def test_the_invoice_pdf_of_a_customer_with_a_mandate_announces_the_debit(
    operator, creditor, mandate, monthly_company
):
    invoice = open_invoice(monthly_company)

    text = " ".join(pages_text(pdf.render_pdf(invoice))[0].split())

    assert (
        f"will be debited on {long_date(invoice.due_date)} from the account ending 3000 "
        f"(mandate {mandate.reference}, creditor ID DE98ZZZ09999999999)"
    ) in text
    assert "Please pay" not in text
    with translation.override("de"):
        assert "wird am" in pdf._direct_debit_notice(invoice, pdf.Bidi(False))


def test_without_a_mandate_the_invoice_pdf_asks_for_a_transfer(operator, creditor, monthly_company):
    invoice = open_invoice(monthly_company)
    text = " ".join(pages_text(pdf.render_pdf(invoice))[0].split())
    assert "Please pay" in text and "will be debited" not in text
