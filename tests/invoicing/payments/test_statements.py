"""Bank statements: camt.053/054 of several versions read exactly, refused with the line when
they are not camt, booked once, matched to open invoices only when certain, returns applied."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.matching import assign, keep_as_credit, within_one_edit
from invoicing.payments.models import (
    BankStatement,
    MatchOutcome,
    PaymentTransaction,
    StatementCredit,
    TransactionKind,
    TransactionStatus,
)
from invoicing.payments.statements import (
    Header,
    StatementError,
    import_statement,
    read_statement,
    receive_statement,
)
from tests.invoicing.payments.camt import OUR_IBAN, Booking, camt, open_invoices


def run(operator, data: bytes, name="statement.xml") -> BankStatement:
    return import_statement(receive_statement(operator=operator, name=name, data=data))


def status(document) -> str:
    return Document.objects.get(pk=document.pk).status


def review(statement) -> StatementCredit:
    return statement.credits_read.get(outcome=MatchOutcome.REVIEW)


@pytest.fixture
def invoices(monthly_company):
    return open_invoices(
        monthly_company,
        [
            ("INV-2026-000101", "40.00"),
            ("INV-2026-000102", "25.50"),
            ("INV-2026-000103", "25.50"),
            ("INV-2026-000104", "99.90"),
        ],
    )


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "version", "prefix"),
    [
        ("053", "02", ""),
        ("053", "04", "camt"),
        ("053", "08", ""),
        ("054", "02", ""),
        ("054", "08", "n"),
    ],
)
def test_every_version_is_read_exactly(message, version, prefix):
    data = camt(
        [
            Booking(
                "1234567.89",
                "INV-1 thanks",
                reference="REF-1",
                end_to_end="E2E-1",
                creditor_reference="RF18539007547034",
            ),
            Booking("0.10", "", credit=False, reference="REF-2"),
        ],
        message=message,
        version=version,
        prefix=prefix,
    )
    header = Header()
    first, second = list(read_statement(io.BytesIO(data), header))

    assert header.message == f"camt.{message}.001.{version}"
    assert (header.statement_id, header.account_iban) == ("STMT-2026-11-30", OUR_IBAN)
    assert first.amount == Decimal("1234567.89") and isinstance(first.amount, Decimal)
    assert (first.currency, first.credit, first.reference) == ("EUR", True, "REF-1")
    assert (first.payer_name, first.payer_iban) == ("Ada Lovelace", "DE02120300000000202051")
    assert first.remittance_text == "INV-1 thanks RF18539007547034"
    assert first.end_to_end_id == "E2E-1"
    assert str(first.value_date) == "2026-11-30"
    assert first.payload.startswith(("<Ntry", f"<{prefix}:Ntry")) and "REF-1" in first.payload
    assert not second.credit


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
            b'pain.008.001.02"></Document>',
            "Line 2: this is not a camt.053 or camt.054 file",
        ),
        (b"<html>\n<body>hello</body></html>", "Line 1: this is not a camt.053"),
        (
            camt([Booking("10.00", "x")]).replace(b"</Ntry>", b"</Ntri>"),
            "Line 6: the file is not well-formed XML",
        ),
        (camt([Booking("10,00", "x")]), "Line 6: “10,00” is not an amount"),
        (b"Datum;Betrag\n2026-11-30;10,00\n", "Line 1: the file is not well-formed XML"),
    ],
)
def test_a_file_that_is_not_camt_is_refused_naming_the_line(operator, data, message):
    statement = receive_statement(operator=operator, name="upload.xml", data=data)
    with pytest.raises(StatementError) as refused:
        import_statement(statement)

    assert message in str(refused.value)
    statement.refresh_from_db()
    assert statement.status == "failed" and message in statement.error
    assert not PaymentTransaction.objects.exists()


def test_a_statement_imported_twice_books_nothing_twice(operator, invoices):
    data = camt(
        [Booking("40.00", "INV-2026-000101", reference="R1"), Booking("5.00", "?", reference="R2")]
    )

    first = run(operator, data)
    again = run(operator, data)

    assert (first.credits, first.matched, first.to_review) == (2, 1, 1)
    assert (again.credits, again.already_imported) == (0, 2)
    assert PaymentTransaction.objects.filter(provider="bank_transfer").count() == 2
    assert Document.objects.get(pk=invoices[0].pk).amount_paid == Decimal("40.00")


def test_the_ledger_keeps_the_entry_exactly_as_received(operator, invoices):
    run(operator, camt([Booking("40.00", "INV-2026-000101", reference="R1")]))

    entry = PaymentTransaction.objects.get(provider="bank_transfer")
    assert entry.kind == TransactionKind.BANK_TRANSFER and entry.provider_reference == "R1"
    assert entry.payload.startswith("<Ntry") and "<AcctSvcrRef>R1</AcctSvcrRef>" in entry.payload
    assert entry.payer_iban == "DE02120300000000202051"


# --- matching -----------------------------------------------------------------------------


def test_the_similarity_rule():
    assert within_one_edit("INV2026000101", "INV2026000101")
    assert within_one_edit("INV2026000101", "INV2026000107")  # one wrong
    assert within_one_edit("INV2026000101", "INV202600101")  # one missing
    assert within_one_edit("INV2026000101", "INV20260001011")  # one extra
    assert within_one_edit("INV2026000101", "INV2026001001")  # two swapped
    assert not within_one_edit("INV2026000101", "INV2026000199")
    assert not within_one_edit("INV2026000101", "INV2026010001")


def test_an_exact_reference_and_amount_pays_the_invoice(operator, invoices):
    statement = run(
        operator, camt([Booking("40.00", "Rechnung INV-2026-000101 Danke", reference="R1")])
    )

    assert status(invoices[0]) == DocumentStatus.PAID
    assert statement.matched == 1


@pytest.mark.parametrize(
    "remittance",
    ["inv 2026 000101", "INV2026000101", "INV-2026-00101", "INV-2026-000110", "INV/2026/000101."],
)
def test_a_reference_with_a_typo_or_other_separators_pays_when_the_amount_fits(
    operator, invoices, remittance
):
    run(operator, camt([Booking("40.00", remittance, reference="R1")]))

    assert status(invoices[0]) == DocumentStatus.PAID


def test_a_typo_with_a_different_amount_waits_for_review(operator, invoices):
    statement = run(operator, camt([Booking("39.00", "INV-2026-00101", reference="R1")]))

    item = review(statement)
    assert "differs by 1.00 EUR" in item.reason
    assert item.candidates == [invoices[0].pk]
    assert status(invoices[0]) == DocumentStatus.ISSUED


def test_one_transfer_for_several_invoices(operator, invoices):
    run(operator, camt([Booking("65.50", "INV-2026-000101, INV-2026-000102", reference="R1")]))

    assert [status(d) for d in invoices[:3]] == ["paid", "paid", "issued"]


def test_a_partial_payment_is_allocated_and_the_invoice_stays_open(operator, invoices):
    statement = run(operator, camt([Booking("50.00", "INV-2026-000104", reference="R1")]))

    document = Document.objects.get(pk=invoices[3].pk)
    assert (document.amount_paid, document.status) == (Decimal("50.00"), "issued")
    assert statement.partly_matched == 1


def test_an_overpayment_stays_as_the_customers_credit(operator, invoices, monthly_company):
    run(operator, camt([Booking("45.00", "INV-2026-000101", reference="R1")]))

    assert status(invoices[0]) == DocumentStatus.PAID
    assert ledger.customer_credit(monthly_company) == {"EUR": Decimal("5.00")}


def test_a_few_cents_short_waits_for_review_with_the_difference(operator, invoices):
    statement = run(operator, camt([Booking("39.90", "INV-2026-000101", reference="R1")]))

    assert review(statement).reason == "amount differs by 0.10 EUR"
    assert status(invoices[0]) == DocumentStatus.ISSUED


def test_two_invoices_that_match_equally_wait_for_review(operator, invoices):
    # INV-2026-000105 is one typo away from ...102 and ...103 (both 25.50).
    statement = run(operator, camt([Booking("25.50", "INV-2026-00010", reference="R1")]))

    item = review(statement)
    assert item.reason == "2 invoices match equally"
    assert sorted(item.candidates) == sorted([invoices[1].pk, invoices[2].pk])
    assert not Document.objects.filter(status="paid", pk__in=item.candidates).exists()


def test_no_document_number_waits_for_review_with_same_amount_candidates(operator, invoices):
    statement = run(operator, camt([Booking("99.90", "Ladestrom November", reference="R1")]))

    item = review(statement)
    assert item.reason == "no document number found"
    assert item.candidates == [invoices[3].pk]


def test_a_known_payer_iban_pays_the_one_invoice_with_that_amount(operator, invoices):
    run(
        operator,
        camt([Booking("40.00", "INV-2026-000101", reference="R1", iban="DE75512108001245126199")]),
    )

    run(operator, camt([Booking("99.90", "Strom", reference="R2", iban="DE75512108001245126199")]))

    assert status(invoices[3]) == DocumentStatus.PAID


# --- the review queue ---------------------------------------------------------------------


def test_staff_assign_a_transfer_to_several_invoices(operator, invoices, admin_user):
    statement = run(operator, camt([Booking("60.00", "Ladestrom", reference="R1")]))
    item = review(statement)

    assign(item=item, documents=[invoices[1], invoices[0]], user=admin_user)

    assert status(invoices[0]) == DocumentStatus.PAID
    assert Document.objects.get(pk=invoices[1].pk).amount_paid == Decimal("20.00")
    item.refresh_from_db()
    assert item.outcome == MatchOutcome.ASSIGNED and item.resolved_by == admin_user
    with pytest.raises(InvoicingError, match="placed already"):
        assign(item=item, documents=[invoices[2]], user=admin_user)


def test_staff_keep_a_transfer_as_customer_credit(operator, invoices, monthly_company):
    item = review(run(operator, camt([Booking("12.00", "Guthaben", reference="R1")])))

    keep_as_credit(item=item, customer=monthly_company)

    assert ledger.customer_credit(monthly_company) == {"EUR": Decimal("12.00")}


# --- direct debits ------------------------------------------------------------------------


@pytest.fixture
def collection(operator, invoices):
    invoice = invoices[0]
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="sepa_direct_debit",
            provider_reference="INV-2026-000101-1",
            kind=TransactionKind.DIRECT_DEBIT,
            status=TransactionStatus.PENDING,
            amount=invoice.total_gross,
            currency="EUR",
            intended_document=invoice,
        )
    )


def test_a_booked_collection_batch_marks_its_collections_succeeded(operator, collection, invoices):
    run(operator, camt([Booking("40.00", "Sammler", reference="B1", batch=("INV-2026-000101-1",))]))

    collection.refresh_from_db()
    assert collection.status == TransactionStatus.SUCCEEDED
    assert status(invoices[0]) == DocumentStatus.PAID
    assert not PaymentTransaction.objects.filter(provider="bank_transfer").exists()


def test_a_returned_direct_debit_reopens_the_invoice_with_the_reason(
    operator, collection, invoices
):
    run(operator, camt([Booking("40.00", "Sammler", reference="B1", batch=("INV-2026-000101-1",))]))
    returned = camt(
        [
            Booking(
                "40.00",
                "",
                credit=False,
                reference="RT1",
                end_to_end="INV-2026-000101-1",
                return_code="AC04",
            )
        ],
        message="054",
        statement_id="N-2",
    )

    statement = run(operator, returned)
    run(operator, returned)

    back = PaymentTransaction.objects.get(kind=TransactionKind.DIRECT_DEBIT_RETURN)
    assert back.parent == collection and back.failure_reason == "AC04 Account closed"
    assert statement.returns == 1
    assert status(invoices[0]) in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)
