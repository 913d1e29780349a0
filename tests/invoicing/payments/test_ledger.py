"""The payment ledger: transactions once per provider reference, allocations bounded, credit
kept and applied, returns and refunds, the documents' status and webhooks following."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from cpo_portal.kernel.integrations.models import WebhookEvent
from cpo_portal.kernel.periods import today_for
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import issue_credit_note
from invoicing.documents.models import Document, DocumentStatus
from invoicing.models import WebhookEndpoint
from invoicing.payments import ledger
from invoicing.payments.models import (
    Payment,
    PaymentTransaction,
    TransactionKind,
    TransactionStatus,
    mask_iban,
)
from invoicing.payments.recording import record_payment
from invoicing.payments.refunds import refund, refund_credit_note
from tests.invoicing.helpers import issue_invoice_for


def transfer(operator, amount, *, reference="bank-1", status="succeeded", **kwargs):
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="bank",
            provider_reference=reference,
            kind=TransactionKind.BANK_TRANSFER,
            status=status,
            amount=Decimal(amount),
            currency="EUR",
            **kwargs,
        )
    )


def events(kind):
    return list(WebhookEvent.objects.filter(type=kind).values_list("object_id", flat=True))


@pytest.fixture
def listening(integrator):
    """An integrator's endpoint for every event; these tests read the outbox."""
    return WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/hooks")


@pytest.fixture
def two_invoices(monthly_company):
    first = issue_invoice_for(monthly_company, sessions=1)
    Document.objects.filter(pk=first.pk).update(status=DocumentStatus.ISSUED)
    second = issue_invoice_for(monthly_company, sessions=2)
    return Document.objects.get(pk=first.pk), second


def test_one_transfer_pays_two_invoices_and_the_rest_is_the_customers_credit(
    operator, listening, monthly_company, two_invoices
):
    first, second = two_invoices
    total = first.total_gross + second.total_gross
    entry = transfer(operator, total + Decimal("7.50"), customer=monthly_company)

    ledger.allocate(entry=entry, document=first, amount=first.total_gross)
    ledger.allocate(entry=entry, document=second, amount=second.total_gross - Decimal("1.00"))
    ledger.allocate(entry=entry, document=second, amount=Decimal("1.00"))

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (DocumentStatus.PAID, DocumentStatus.PAID)
    assert second.amount_paid == second.total_gross
    assert ledger.unallocated(entry) == Decimal("7.50")
    assert ledger.customer_credit(monthly_company) == {"EUR": Decimal("7.50")}
    assert sorted(events("invoice.paid")) == sorted([first.pk, second.pk])


def test_an_allocation_never_exceeds_what_is_left_or_what_is_owed(operator, two_invoices):
    first, _ = two_invoices
    entry = transfer(operator, "1.00")

    with pytest.raises(InvoicingError, match=r"Only 1\.00 EUR of this transaction is left"):
        ledger.allocate(entry=entry, document=first, amount=Decimal("1.01"))
    big = transfer(operator, first.total_gross + 5, reference="bank-2")
    with pytest.raises(InvoicingError, match=r"more than the .* still due"):
        ledger.allocate(entry=big, document=first, amount=first.total_gross + 1)
    assert not Payment.objects.exists()


def test_a_notification_twice_or_out_of_order_changes_nothing_twice(
    operator, listening, two_invoices
):
    first, _ = two_invoices
    args = dict(intended_document=first, reference="pi_1")

    transfer(operator, first.total_gross, status="pending", **args)
    paid = transfer(operator, first.total_gross, status="succeeded", **args)
    transfer(operator, first.total_gross, status="succeeded", **args)
    late_pending = transfer(operator, first.total_gross, status="pending", **args)
    late_failure = transfer(operator, first.total_gross, status="failed", **args)

    assert paid.pk == late_pending.pk == late_failure.pk
    assert late_failure.status == TransactionStatus.SUCCEEDED
    assert PaymentTransaction.objects.count() == 1
    assert Payment.objects.filter(document=first).count() == 1
    assert events("payment.succeeded") == [paid.pk]
    assert events("invoice.paid") == [first.pk]
    assert ledger.accept_notification(provider="bank", event_id="evt_1")
    assert not ledger.accept_notification(provider="bank", event_id="evt_1")


def test_a_payment_for_an_invoice_paid_meanwhile_becomes_credit(
    operator, monthly_company, two_invoices
):
    first, second = two_invoices
    transfer(operator, first.total_gross, reference="a", intended_document=first)
    twice = transfer(operator, first.total_gross, reference="b", intended_document=first)

    assert ledger.unallocated(twice) == first.total_gross
    applied = ledger.apply_credit(document=second)
    second.refresh_from_db()
    assert [a.amount for a in applied] == [min(first.total_gross, second.total_gross)]
    assert second.amount_paid == min(first.total_gross, second.total_gross)


def test_credit_is_applied_to_the_next_invoice_when_it_is_issued(
    operator, monthly_company, monkeypatch, django_capture_on_commit_callbacks
):
    from cpo_portal.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    transfer(operator, "1000.00", customer=monthly_company)

    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue_invoice_for(monthly_company, sessions=1)

    invoice.refresh_from_db()
    assert invoice.status == DocumentStatus.PAID
    assert ledger.customer_credit(monthly_company) == {
        "EUR": Decimal("1000.00") - invoice.total_gross
    }


def test_a_returned_direct_debit_puts_the_invoice_back_to_unpaid_with_the_reason(
    operator, listening, two_invoices
):
    first, _ = two_invoices
    collection = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="sepa",
            provider_reference="DD-1",
            kind=TransactionKind.DIRECT_DEBIT,
            status="succeeded",
            amount=first.total_gross,
            currency="EUR",
            intended_document=first,
        )
    )
    first.refresh_from_db()
    assert first.status == DocumentStatus.PAID

    returned = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="sepa",
            provider_reference="DD-1-return",
            kind=TransactionKind.DIRECT_DEBIT_RETURN,
            status="succeeded",
            amount=first.total_gross,
            currency="EUR",
            parent=collection,
            failure_reason="AC04 Account closed",
        )
    )

    first.refresh_from_db()
    assert (first.status, first.amount_paid, first.paid_on) == (
        DocumentStatus.OVERDUE if first.due_date < today_for(operator) else DocumentStatus.ISSUED,
        Decimal("0.00"),
        None,
    )
    assert [p.amount for p in first.payments.order_by("id")] == [
        first.total_gross,
        -first.total_gross,
    ]
    assert events("payment.failed") == [returned.pk]
    assert returned.failure_reason == "AC04 Account closed"


def test_a_credit_note_on_a_paid_invoice_is_refunded_at_most_what_was_paid(
    operator, listening, per_session_customer
):
    invoice = issue_invoice_for(per_session_customer)
    half = (invoice.total_gross / 2).quantize(Decimal("0.01"))
    payment = record_payment(document=invoice, amount=half, paid_on=invoice.issue_date).transaction
    note, _ = issue_credit_note(document=invoice, reason="Charger fault")

    (made,) = refund_credit_note(credit_note=note)

    note.refresh_from_db()
    assert made.amount == half
    assert note.amount_paid == -half
    assert events("payment.refunded") == [made.pk]
    with pytest.raises(InvoicingError, match="left to refund"):
        refund(payment=payment, amount=Decimal("0.01"))


def test_ibans_are_masked():
    assert mask_iban("DE89 3704 0044 0532 0130 00") == "DE89 •••• 3000"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_allocating_the_same_transfer_at_once_cannot_allocate_it_twice(
    operator, monthly_company
):
    first = issue_invoice_for(monthly_company, sessions=1)
    Document.objects.filter(pk=first.pk).update(status=DocumentStatus.ISSUED)
    second = issue_invoice_for(monthly_company, sessions=1)
    entry = transfer(operator, max(first.total_gross, second.total_gross))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def allocate(document):
        try:
            barrier.wait()
            ledger.allocate(entry=entry, document=document, amount=document.total_gross)
            outcomes.append("allocated")
        except InvoicingError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=allocate, args=(d,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["allocated", "refused"]
    assert Payment.objects.count() == 1
