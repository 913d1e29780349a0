"""The accountant's reconciliation: the payments export (one row per ledger transaction with the
documents it paid) and the open-items export (what is still owed, and customers' unused credit),
as CSV and XLSX, from the admin lists and the command."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from cpo_portal.kernel.periods import today_for
from invoicing.documents.issuing import issue_credit_note
from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from invoicing.payments.recording import record_payment
from tests.invoicing.accounting.test_export_admin import csv_rows, export_url, xlsx_rows
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db

LEDGER = reverse("admin:invoicing_paymenttransaction_changelist")
DOCUMENTS = reverse("admin:invoicing_document_changelist")
IBAN = "DE02120300000000202051"


@pytest.fixture
def books(operator, monthly_company, per_session_customer):
    """A paid invoice, a partly paid overdue one, an unpaid one, a credited one, and a transfer
    that paid two invoices and left credit."""
    paid = issue_invoice_for(per_session_customer)
    record_payment(document=paid, amount=paid.total_gross, paid_on=paid.issue_date)
    overdue = issue_invoice_for(monthly_company, sessions=2)
    unpaid = issue_invoice_for(monthly_company, sessions=1)
    credited = issue_invoice_for(monthly_company, sessions=1)
    issue_credit_note(document=credited, reason="Wrong tariff")
    transfer = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="bank_transfer",
            provider_reference="camt-1",
            kind=TransactionKind.BANK_TRANSFER,
            status="succeeded",
            amount=Decimal("20.00"),
            currency="EUR",
            customer=monthly_company,
            payer_iban=IBAN,
            payer_name="=HYPERLINK(1)",
        )
    )
    overdue = Document.objects.get(pk=overdue.pk)
    ledger.allocate(entry=transfer, document=overdue, amount=Decimal("1.00"))
    unpaid = Document.objects.get(pk=unpaid.pk)
    ledger.allocate(entry=transfer, document=unpaid, amount=Decimal("2.00"))
    return {
        "paid": paid,
        "overdue": Document.objects.get(pk=overdue.pk),
        "unpaid": Document.objects.get(pk=unpaid.pk),
        "credited": credited,
        "transfer": transfer,
        "customer": monthly_company,
    }


def test_the_payments_export_lists_each_transaction_with_its_documents_and_a_masked_iban(
    admin_client, books
):
    response = admin_client.post(export_url(LEDGER, "payments", "csv"))

    rows = {row["provider_reference"]: row for row in csv_rows(response)}
    transfer = rows["camt-1"]
    assert transfer["document_numbers"] == (
        f"{books['overdue'].display_number}; {books['unpaid'].display_number}"
    )
    assert (transfer["amount"], transfer["allocated"], transfer["unallocated"]) == (
        "20.00",
        "3.00",
        "17.00",
    )
    assert transfer["payer_iban"] == "DE02 •••• 2051"
    assert transfer["payer_name"] == "'=HYPERLINK(1)"
    (manual,) = [row for key, row in rows.items() if key != "camt-1"]
    assert (manual["kind"], manual["document_numbers"]) == ("manual", books["paid"].display_number)


def test_a_refund_is_a_negative_row_of_the_payments_xlsx(admin_client, books):
    paid = books["paid"].payments.get().transaction
    ledger.record_transaction(
        ledger.TransactionFacts(
            operator=paid.operator,
            provider="manual",
            provider_reference="refund-1",
            kind=TransactionKind.REFUND,
            status="succeeded",
            amount=Decimal("1.50"),
            currency="EUR",
            parent=paid,
        )
    )

    response = admin_client.post(export_url(LEDGER, "payments", "xlsx", "kind=refund"))

    (refund,) = xlsx_rows(response)
    assert refund["amount"] == pytest.approx(-1.5)
    assert refund["parent_transaction_id"] == paid.pk


def test_open_items_list_what_is_owed_with_days_overdue_and_the_customers_credit(
    admin_client, books, monkeypatch
):
    assert today_for(books["customer"].operator) <= books["overdue"].due_date
    # Twelve days after the due date.
    later = books["overdue"].due_date + timedelta(days=12)
    monkeypatch.setattr("invoicing.accounting.exports.today_for", lambda operator: later)

    response = admin_client.post(export_url(DOCUMENTS, "open_items", "xlsx"))

    rows = xlsx_rows(response)
    documents = {row["number"]: row for row in rows if row["item"] == "document"}
    assert set(documents) == {books["overdue"].display_number, books["unpaid"].display_number}
    overdue = documents[books["overdue"].display_number]
    assert overdue["days_overdue"] == 12
    assert overdue["outstanding"] == pytest.approx(float(books["overdue"].total_gross - 1))
    assert documents[books["unpaid"].display_number]["outstanding"] == pytest.approx(
        float(books["unpaid"].total_gross - 2)
    )
    (credit,) = [row for row in rows if row["item"] == "credit"]
    assert (credit["customer_id"], credit["currency"]) == (books["customer"].pk, "EUR")
    assert credit["outstanding"] == pytest.approx(-17.0)


def test_the_open_items_csv_of_the_command_matches_the_admins(admin_client, books, tmp_path):
    out = tmp_path / "open.csv"
    call_command("export", "--what", "open_items", "--output", str(out), "--no-progress")

    from_command = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    from_admin = csv_rows(admin_client.post(export_url(DOCUMENTS, "open_items", "csv")))
    assert from_command == from_admin
    assert [row["outstanding"] for row in from_admin if row["item"] == "credit"] == ["-17.00"]
    assert {row["days_overdue"] for row in from_admin if row["item"] == "document"} == {"0"}


def test_the_payments_export_is_offered_on_the_ledger_list(admin_client, books):
    listing = admin_client.get(LEDGER).content.decode()

    assert export_url(LEDGER, "payments", "csv") in listing
    assert "export_payments_xlsx" in listing
