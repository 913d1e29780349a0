"""The payment ledger through the API: transactions with filters, details with allocations and
refunds, refunds bounded by what is left, and each customer's credit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from invoicing.documents.issuing import issue_credit_note
from invoicing.documents.models import Document
from invoicing.payments import ledger, providers
from invoicing.payments.models import PaymentTransaction, TransactionKind
from invoicing.payments.providers import PaymentProvider
from invoicing.payments.recording import record_payment
from tests.invoicing.helpers import issue_invoice_for

PAYMENTS = "/api/v1/payments/"


class NoRefundsProvider(PaymentProvider):
    """A provider whose payments cannot be given back here (e.g. cash collected by a partner)."""

    key = "partner_cash"
    name = "Partner cash"


@pytest.fixture
def invoice(per_session_customer) -> Document:
    return issue_invoice_for(per_session_customer)


@pytest.fixture
def paid(invoice):
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=invoice.issue_date)
    invoice.refresh_from_db()
    return invoice


def transfer(operator, amount, *, reference, provider="bank_transfer", **kwargs):
    return ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider=provider,
            provider_reference=reference,
            kind=TransactionKind.BANK_TRANSFER,
            status="succeeded",
            amount=Decimal(amount),
            currency="EUR",
            **kwargs,
        )
    )


def test_the_list_filters_by_status_kind_provider_customer_document_dates_and_currency(
    api, operator, paid, per_session_customer, monthly_company
):
    manual = paid.payments.get().transaction
    earlier = paid.issue_date - timedelta(days=10)
    other = transfer(
        operator, "3.00", reference="camt-1", customer=monthly_company, value_date=earlier
    )

    def ids(**params):
        response = api.get(PAYMENTS, params)
        assert response.status_code == 200, response.json()
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {manual.pk, other.pk}
    assert ids(kind="manual") == {manual.pk}
    assert ids(provider="bank_transfer") == {other.pk}
    assert ids(customer=per_session_customer.pk) == {manual.pk}
    assert ids(document=paid.pk) == {manual.pk}
    assert ids(status="pending") == set()
    assert ids(currency="CHF") == set()
    assert ids(value_date_to=earlier.isoformat()) == {other.pk}
    assert ids(value_date_from=(earlier + timedelta(days=1)).isoformat()) == {manual.pk}
    assert api.get(PAYMENTS, {"status": "maybe"}).status_code == 400


def test_the_document_filter_finds_what_paid_it_and_what_was_started_for_it(
    api, operator, paid, per_session_customer
):
    allocated = paid.payments.get().transaction
    started = transfer(operator, "1.00", reference="checkout-1", intended_document=paid)
    another = issue_invoice_for(per_session_customer)
    transfer(operator, "2.00", reference="checkout-2", intended_document=another)

    response = api.get(PAYMENTS, {"document": paid.pk})

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == {allocated.pk, started.pk}


def test_the_detail_has_allocations_children_masked_iban_and_the_payload_as_received(
    api, operator, invoice, per_session_customer
):
    payload = '{"amount":  "5.00"}'
    entry = transfer(
        operator,
        str(invoice.total_gross + 2),
        reference="camt-2",
        intended_document=invoice,
        payer_iban="DE02120300000000202051",
        payload=payload,
    )

    body = api.get(f"{PAYMENTS}{entry.pk}/").json()

    assert body["payer_iban"] == "DE02 •••• 2051"
    assert body["payload"] == payload
    assert body["unallocated"] == "2.00"
    (allocation,) = body["allocations"]
    assert (allocation["document_number"], allocation["amount"]) == (
        invoice.display_number,
        str(invoice.total_gross),
    )
    assert body["children"] == []


def test_a_refund_is_created_and_more_than_is_left_is_a_field_error(api, paid):
    entry = paid.payments.get().transaction

    created = api.post(f"{PAYMENTS}{entry.pk}/refunds/", {"amount": "1.00"})
    assert created.status_code == 201, created.json()
    assert (created.json()["kind"], created.json()["parent"]) == ("refund", entry.pk)

    refused = api.post(f"{PAYMENTS}{entry.pk}/refunds/", {"amount": str(entry.amount)})
    assert refused.status_code == 400
    assert "left to refund" in refused.json()["amount"][0]
    assert entry.children.count() == 1
    detail = api.get(f"{PAYMENTS}{entry.pk}/").json()
    assert [child["amount"] for child in detail["children"]] == ["1.00"]


def test_a_refund_paying_out_a_credit_note_settles_it(api, paid):
    entry = paid.payments.get().transaction
    note, _ = issue_credit_note(document=paid, reason="Wrong tariff")

    response = api.post(
        f"{PAYMENTS}{entry.pk}/refunds/",
        {"amount": str(-note.total_gross), "credit_note": note.pk},
    )

    assert response.status_code == 201, response.json()
    assert Document.objects.get(pk=note.pk).outstanding == 0
    unknown = api.post(f"{PAYMENTS}{entry.pk}/refunds/", {"amount": "1.00", "credit_note": 999})
    assert unknown.status_code == 400 and "credit_note" in unknown.json()


def test_a_provider_that_cannot_refund_answers_409(api, operator, per_session_customer, settings):
    settings.PAYMENT_PROVIDERS = [
        *settings.PAYMENT_PROVIDERS,
        f"{__name__}.NoRefundsProvider",
    ]
    providers._registry.cache_clear()
    try:
        entry = transfer(
            operator,
            "4.00",
            reference="cash-1",
            provider="partner_cash",
            customer=per_session_customer,
        )
        response = api.post(f"{PAYMENTS}{entry.pk}/refunds/", {"amount": "1.00"})
    finally:
        providers._registry.cache_clear()

    assert response.status_code == 409
    assert "cannot be refunded" in response.json()["detail"]
    assert not PaymentTransaction.objects.filter(kind="refund").exists()


def test_a_customers_credit_per_currency(api, operator, per_session_customer, monthly_company):
    transfer(operator, "7.50", reference="camt-3", customer=per_session_customer)

    assert api.get(f"/api/v1/customers/{per_session_customer.pk}/credit/").json() == {
        "customer": per_session_customer.pk,
        "credit": {"EUR": "7.50"},
    }
    assert api.get(f"/api/v1/customers/{monthly_company.pk}/credit/").json()["credit"] == {}


def test_another_operators_transactions_are_not_found(api, other_operator):
    theirs = transfer(other_operator, "5.00", reference="camt-other")

    assert api.get(f"{PAYMENTS}{theirs.pk}/").status_code == 404
    assert api.get(PAYMENTS).json()["results"] == []


def test_a_payment_of_a_provider_not_configured_here_answers_409(api, operator):
    entry = transfer(operator, "4.00", reference="camt-9")

    response = api.post(f"{PAYMENTS}{entry.pk}/refunds/", {"amount": "1.00"})

    assert response.status_code == 409
    assert "bank_transfer" in response.json()["detail"]
