"""The ledger in the back-office: transactions with filters and search, their allocations and
refunds, each invoice's payments, refunds of payments, credit notes and customers' credit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cpo_portal.kernel.admin.lists import EstimatedCountPaginator
from invoicing.documents.issuing import issue_credit_note
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments import ledger
from invoicing.payments.models import PaymentTransaction, TransactionKind
from invoicing.payments.recording import record_payment
from tests.invoicing.admin.helpers import document_url, messages_of

LEDGER = reverse("admin:invoicing_paymenttransaction_changelist")
IBAN = "DE02120300000000202051"
PAYLOAD = '{"id": "evt_1",  "amount": 1250}'


def transfer(operator, amount, *, reference, customer=None, **kwargs):
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="bank_transfer",
            provider_reference=reference,
            kind=TransactionKind.BANK_TRANSFER,
            status="succeeded",
            amount=Decimal(amount),
            currency="EUR",
            customer=customer,
            **kwargs,
        )
    )


def transaction_url(entry, action="change"):
    return reverse(f"admin:invoicing_paymenttransaction_{action}", args=[entry.pk])


def listed(admin_client, **params):
    response = admin_client.get(LEDGER, params)
    assert response.status_code == 200
    return {entry.pk for entry in response.context["cl"].result_list}


@pytest.fixture
def paid(invoice, admin_user):
    """The invoice, paid in full by staff (a manual transaction)."""
    record_payment(
        document=invoice,
        amount=invoice.total_gross,
        paid_on=invoice.issue_date,
        reference="cash desk",
        recorded_by=admin_user,
    )
    invoice.refresh_from_db()
    return invoice


def test_the_ledger_filters_by_provider_kind_unallocated_money_and_searches_payer_and_number(
    admin_client, operator, customer, paid
):
    manual = paid.payments.get().transaction
    credit = transfer(
        operator, "20.00", reference="camt-77", customer=customer, payer_name="Ada Lovelace"
    )

    assert listed(admin_client) == {manual.pk, credit.pk}
    assert listed(admin_client, provider="bank_transfer") == {credit.pk}
    assert listed(admin_client, kind="manual") == {manual.pk}
    assert listed(admin_client, unallocated="yes") == {credit.pk}
    assert listed(admin_client, unallocated="no") == {manual.pk}
    assert listed(admin_client, q="camt-77") == {credit.pk}
    assert listed(admin_client, q="ada") == {credit.pk}
    assert listed(admin_client, q=paid.display_number) == {manual.pk}
    assert listed(admin_client, status="failed") == set()


def test_the_list_masks_the_iban_and_the_detail_shows_payload_allocations_and_refunds(
    admin_client, operator, customer, invoice
):
    entry = transfer(
        operator,
        str(invoice.total_gross),
        reference="camt-1",
        customer=customer,
        intended_document=invoice,
        payer_iban=IBAN,
        payload=PAYLOAD,
    )
    refund = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="manual",
            provider_reference="refund-1",
            kind=TransactionKind.REFUND,
            status="succeeded",
            amount=Decimal("1.00"),
            currency="EUR",
            parent=entry,
        )
    )

    page = admin_client.get(LEDGER).content.decode()
    assert "DE02 •••• 2051" in page and IBAN not in page

    detail = admin_client.get(transaction_url(entry)).content.decode()
    assert IBAN not in detail
    # The payload exactly as received (two spaces and all), escaped for HTML.
    assert "{&quot;id&quot;: &quot;evt_1&quot;,  &quot;amount&quot;: 1250}" in detail
    assert invoice.display_number in detail
    assert transaction_url(refund) in detail


def test_a_payment_is_refunded_from_its_page_and_more_than_is_left_is_refused(admin_client, paid):
    entry = paid.payments.get().transaction
    url = transaction_url(entry, "refund")
    assert url in admin_client.get(transaction_url(entry)).content.decode()

    too_much = admin_client.post(url, {"amount": str(entry.amount + 1)}, follow=True)
    assert any("left to refund" in m for m in messages_of(too_much))
    assert not entry.children.exists()

    done = admin_client.post(url, {"amount": "2.00"}, follow=True)
    assert any("Refund of 2.00 EUR" in m for m in messages_of(done))
    (refund,) = entry.children.all()
    assert (refund.kind, refund.status, refund.amount) == ("refund", "succeeded", Decimal("2.00"))


def test_a_payment_of_a_provider_not_configured_here_is_refused_with_a_message(
    admin_client, operator, customer
):
    entry = transfer(operator, "9.00", reference="camt-2", customer=customer)

    response = admin_client.post(transaction_url(entry, "refund"), {"amount": "1.00"}, follow=True)

    assert any("bank_transfer" in m for m in messages_of(response))
    assert not entry.children.exists()


def test_an_invoices_page_shows_its_payments_with_their_transactions(admin_client, paid):
    entry = paid.payments.get().transaction

    page = admin_client.get(document_url(paid)).content.decode()

    assert transaction_url(entry) in page
    assert entry.provider_reference in page


def test_record_payment_in_the_admin_goes_through_the_ledger(admin_client, invoice):
    response = admin_client.post(
        document_url(invoice, "record_payment"),
        {
            "amount": str(invoice.total_gross),
            "paid_on": invoice.issue_date.isoformat(),
            "method": "cash",
            "reference": "desk",
        },
        follow=True,
    )

    assert any("is paid" in m for m in messages_of(response))
    (entry,) = PaymentTransaction.objects.all()
    assert (entry.provider, entry.kind, entry.amount) == ("manual", "manual", invoice.total_gross)
    assert entry.allocations.get().document_id == invoice.pk


def test_a_credit_note_is_refunded_from_its_page(admin_client, paid):
    note, _ = issue_credit_note(document=paid, reason="Wrong tariff")
    url = document_url(note, "refund_credit_note")
    assert url in admin_client.get(document_url(note)).content.decode()

    response = admin_client.post(url, {}, follow=True)

    assert any("Refund of" in m for m in messages_of(response))
    note = Document.objects.get(pk=note.pk)
    assert note.outstanding == 0
    refund = PaymentTransaction.objects.get(kind="refund")
    assert refund.intended_document_id == note.pk
    assert refund.parent_id == paid.payments.get().transaction_id


def test_refunding_a_credit_note_of_an_unpaid_invoice_says_why_not(admin_client, invoice):
    note, _ = issue_credit_note(document=invoice, reason="Wrong tariff")

    response = admin_client.post(document_url(note, "refund_credit_note"), {}, follow=True)

    assert any("nothing to refund" in m for m in messages_of(response))
    assert not PaymentTransaction.objects.filter(kind="refund").exists()


def test_the_customer_page_shows_the_credit_and_refunds_it_within_the_credit(
    admin_client, operator, customer
):
    entry = transfer(operator, "12.50", reference="camt-3", customer=customer)
    change = reverse("admin:customers_customer_change", args=[customer.pk])
    refund_url = reverse("admin:customers_customer_refund_credit", args=[customer.pk])

    page = admin_client.get(change).content.decode()
    assert "12.50" in page and refund_url in page

    refused = admin_client.post(refund_url, {"currency": "EUR", "amount": "13.00"}, follow=True)
    assert any("more than the 12.50 EUR credit" in m for m in messages_of(refused))

    admin_client.post(refund_url, {"currency": "EUR", "amount": "10.00"}, follow=True)
    (refund,) = PaymentTransaction.objects.filter(kind="refund")
    assert (refund.provider, refund.parent_id, refund.amount) == ("manual", entry.pk, Decimal("10"))
    assert ledger.customer_credit(customer) == {"EUR": Decimal("2.50")}
    assert Document.objects.filter(status=DocumentStatus.PAID).count() == 0


# --- at scale --------------------------------------------------------------------------------


def many_transfers(operator, customer, count, start=0):
    """Bulk-inserted transfers (a million-row ledger is built the same way in benchmarks)."""
    now = timezone.now()
    return PaymentTransaction.objects.bulk_create(
        PaymentTransaction(
            operator=operator,
            customer=customer,
            provider="bank_transfer",
            provider_reference=f"bulk-{start + n}",
            kind=TransactionKind.BANK_TRANSFER,
            status="succeeded",
            amount=Decimal("1.00"),
            currency="EUR",
            value_date=now.date(),
            occurred_at=now,
            payer_iban=IBAN,
        )
        for n in range(count)
    )


def test_the_ledger_list_runs_the_same_queries_for_20_or_200_transactions(
    admin_client, operator, customer, django_assert_num_queries
):
    many_transfers(operator, customer, 20)
    params = {"kind__exact": "bank_transfer", "unallocated": "yes", "q": "bulk-3"}
    with CaptureQueriesContext(connection) as small:
        admin_client.get(LEDGER, params)
    with CaptureQueriesContext(connection) as small_plain:
        admin_client.get(LEDGER)

    many_transfers(operator, customer, 180, start=20)
    with django_assert_num_queries(len(small.captured_queries)):
        admin_client.get(LEDGER, params)
    with django_assert_num_queries(len(small_plain.captured_queries)):
        response = admin_client.get(LEDGER, {"p": "2"})

    assert len(response.context["cl"].result_list) == 100
    assert not [q["sql"] for q in small_plain.captured_queries if "DISTINCT" in q["sql"].upper()]


@pytest.mark.postgres
def test_on_postgresql_a_large_ledger_is_not_counted_but_estimated(
    admin_client, operator, customer, monkeypatch
):
    many_transfers(operator, customer, 300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invoicing_paymenttransaction")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 50)

    response = admin_client.get(LEDGER)

    cl = response.context["cl"]
    assert cl.paginator.count_is_estimate
    assert 200 <= cl.result_count <= 400


def test_the_refund_action_opens_the_page_of_the_one_selected_payment(admin_client, paid):
    entry = paid.payments.get().transaction

    response = admin_client.post(
        LEDGER, {"action": "refund_selected", "_selected_action": [entry.pk]}
    )

    assert response.status_code == 302
    assert response["Location"] == transaction_url(entry, "refund")


def test_the_ledger_finds_a_customers_payments_by_the_beginning_of_their_name(
    admin_client, operator, customer
):
    theirs = transfer(operator, "20.00", reference="camt-80", customer=customer, payer_name="X")
    transfer(operator, "30.00", reference="camt-81", payer_name="Someone Else")

    assert listed(admin_client, q=customer.name[:4]) == {theirs.pk}


def test_allocations_are_found_by_the_beginning_of_the_number_or_the_payment_reference(
    admin_client, operator, customer, paid
):
    (allocation,) = paid.payments.all()
    url = reverse("admin:invoicing_payment_changelist")

    def found(term: str) -> set[int]:
        return {p.pk for p in admin_client.get(url, {"q": term}).context["cl"].result_list}

    assert found(paid.display_number[:-1].lower()) == {allocation.pk}
    assert found(allocation.transaction.provider_reference) == {allocation.pk}
    assert found("INV-999") == set()
