"""Gap-free numbering and the immutability of issued documents, enforced by the database."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import date
from decimal import Decimal
from multiprocessing import get_context

import pytest
from django.db import IntegrityError, connection, transaction

from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import issue_session_documents
from invoicing.documents.numbering import change_next_number
from invoicing.models import (
    BilledSession,
    Document,
    DocumentLine,
    IssuedDocumentError,
    NumberingSeries,
    Payment,
)
from invoicing.payments.recording import record_payment
from invoicing.setup.operators import ensure_series
from tests.invoicing.documents.concurrent_issuer import issue_one_by_one

pytestmark = pytest.mark.django_db


def test_series_format_numbers_with_their_prefix_and_padding(operator):
    series = ensure_series(operator=operator)
    invoice = series["invoice"]
    invoice.prefix, invoice.padding, invoice.next_number = "2026-", 4, 1000
    invoice.save()

    assert [s.kind for s in NumberingSeries.objects.filter(operator=operator)] == [
        "credit_note",
        "invoice",
        "pro_forma",
        "sales_receipt",
    ]
    assert invoice.format(1000) == "2026-1000"
    assert invoice.format(7) == "2026-0007"
    assert invoice.format(123456) == "2026-123456"


def test_a_series_starts_at_its_starting_number(charge, per_session_customer, operator):
    series = ensure_series(operator=operator)["invoice"]
    series.next_number = 500
    series.save()

    issued = issue_session_documents(
        session_ids=[s.pk for s in charge(per_session_customer, count=2)]
    )

    assert [d.display_number for d in issued] == ["INV-000500", "INV-000501"]


def test_the_next_number_moves_freely_until_the_first_document_then_only_to_the_next(
    charge, per_session_customer, operator
):
    series = ensure_series(operator=operator)["invoice"]
    change_next_number(series=series, next_number=5000)
    change_next_number(series=series, next_number=42)
    (issued,) = issue_session_documents(session_ids=[s.pk for s in charge(per_session_customer)])
    assert issued.display_number == "INV-000042"

    for refused in (1, 42, 44):
        with pytest.raises(InvoicingError, match="must be 43") as error:
            change_next_number(series=series, next_number=refused)
        assert error.value.errors == {"next_number": [str(error.value)]}
    with pytest.raises(InvoicingError, match="1 or more"):
        change_next_number(series=series, next_number=0)
    change_next_number(series=series, next_number=43)  # the one it already has
    series.refresh_from_db()
    assert series.next_number == 43


def test_a_rolled_back_issue_gives_its_number_back(charge, per_session_customer):
    first, second = charge(per_session_customer, count=2)

    with pytest.raises(RuntimeError), transaction.atomic():
        issue_session_documents(session_ids=[first.pk])
        raise RuntimeError("crash before commit")
    (document,) = issue_session_documents(session_ids=[second.pk])

    assert document.display_number == "INV-000001"


def test_drafts_have_no_number_and_issued_documents_must_have_one(invoice_factory):
    draft = invoice_factory()
    assert draft.number is None

    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.filter(pk=draft.pk).update(status="issued")


@pytest.fixture
def invoice_factory(charge, per_session_customer, operator):
    """An issued invoice turned back into an unsaved copy lets tests store a bare draft."""

    def make():
        (issued,) = issue_session_documents(session_ids=[charge(per_session_customer)[0].pk])
        draft = Document.objects.get(pk=issued.pk)
        draft.pk = None
        draft.status, draft.number, draft.display_number, draft.series = "draft", None, "", None
        draft.save()
        return draft

    return make


@pytest.fixture
def invoice(charge, per_session_customer):
    (session,) = charge(per_session_customer)
    return issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))[0]


def test_the_model_refuses_to_save_or_delete_an_issued_document(invoice):
    invoice.total_gross = Decimal("0.01")

    with pytest.raises(IssuedDocumentError, match="cannot be changed; credit it instead"):
        invoice.save()
    with pytest.raises(IssuedDocumentError, match="cannot be deleted"):
        invoice.delete()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "change",
    [
        {"total_gross": Decimal("0.00"), "total_net": Decimal("0.00"), "total_vat": 0},
        {"number": 99},
        {"display_number": "INV-999999"},
        {"issue_date": date(2020, 1, 1)},
        {"vat_summary": []},
        {"status": "draft"},
    ],
)
def test_the_database_refuses_changes_to_an_issued_document(invoice, change):
    with pytest.raises(IntegrityError, match="is issued"), transaction.atomic():
        Document.objects.filter(pk=invoice.pk).update(**change)


@pytest.mark.postgres
def test_the_database_refuses_to_delete_issued_documents_and_their_parts(invoice):
    line = invoice.lines.first()
    with pytest.raises(IntegrityError, match="cannot be deleted"), transaction.atomic():
        Document.objects.filter(pk=invoice.pk)._raw_delete(connection.alias)
    with pytest.raises(IntegrityError, match="lines of an issued document"), transaction.atomic():
        DocumentLine.objects.filter(pk=line.pk).update(net=Decimal("0"))
    with pytest.raises(IntegrityError, match="lines of an issued document"), transaction.atomic():
        DocumentLine.objects.filter(pk=line.pk).delete()
    with pytest.raises(IntegrityError, match="added to an issued document"), transaction.atomic():
        DocumentLine.objects.create(
            document=invoice,
            position=99,
            service="energy",
            description="Extra",
            quantity=1,
            unit="kWh",
            unit_price=1,
            net=1,
            vat_category="electricity",
            vat_rate=19,
        )
    with pytest.raises(IntegrityError, match="sessions of an issued"), transaction.atomic():
        BilledSession.objects.filter(document=invoice).delete()
    with pytest.raises(IntegrityError, match="sessions of an issued"), transaction.atomic():
        BilledSession.objects.filter(document=invoice).update(is_reversed=True)
        BilledSession.objects.filter(document=invoice).update(is_reversed=False)
    payment = record_payment(document=invoice, amount=Decimal("1.00"), paid_on=date(2026, 10, 6))
    with pytest.raises(IntegrityError, match="permanent record"), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(amount=Decimal("100.00"))
    assert Document.objects.get(pk=invoice.pk).total_gross == invoice.total_gross


@pytest.mark.postgres
def test_the_database_allows_what_the_law_allows_on_issued_documents(invoice):
    Document.objects.filter(pk=invoice.pk).update(
        status="overdue", recipient_name="Corrected", amount_paid=Decimal("1.00")
    )

    invoice.refresh_from_db()
    assert (invoice.status, invoice.recipient_name) == ("overdue", "Corrected")


def test_a_session_is_billed_at_most_once_per_document_kind(invoice, invoice_factory):
    session_id = invoice.billed_sessions.get().session_id
    draft = invoice_factory()

    with pytest.raises(IntegrityError), transaction.atomic():
        BilledSession.objects.create(document=draft, session_id=session_id, document_kind="invoice")
    BilledSession.objects.create(
        document=draft, session_id=session_id, document_kind="sales_receipt"
    )


# --- several processes issuing at once ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_processes_issuing_at_once_get_gap_free_unique_numbers(
    charge, per_session_customer
):
    sessions = [s.pk for s in charge(per_session_customer, count=60)]
    # Every process tries every session, so they also race for the same sessions.
    batches = [
        sessions,
        sessions[::-1],
        sessions[20:] + sessions[:20],
        sessions[40:] + sessions[:40],
    ]
    database = connection.settings_dict["NAME"]

    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(issue_one_by_one, [database] * 4, batches))

    issued = [number for numbers in results for number in numbers]
    assert sorted(issued) == [f"INV-{n:06d}" for n in range(1, 61)]
    assert all(results), "every process issued some documents"
    assert sorted(Document.objects.values_list("number", flat=True)) == list(range(1, 61))
    assert BilledSession.objects.count() == 60
