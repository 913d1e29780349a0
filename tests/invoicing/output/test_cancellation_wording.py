"""What cancellations and walk-in receipts say on paper: a cancelled invoice is a cancellation
invoice ("Stornorechnung", never "Gutschrift"), a cancelled receipt says so, neither asks for
payment, and a receipt paid on the spot names no one and asks for no bank transfer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from cpo_portal import i18n
from customers.models import Customer
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.models import DocumentKind, InvoicingSettings
from sessions.services import import_tariff, ingest_sessions
from tests.factories import CustomerFactory, EVSEFactory
from tests.invoicing.output.test_pdf import TARIFF, issue_document, set_options, text_of


@pytest.fixture(autouse=True, scope="module")
def _compiled_translations():
    """The .mo files as `make install` compiles them, loaded fresh by this process."""
    i18n.compile_catalogs()
    translation.trans_real._translations.clear()
    translation.trans_real._default = None


@pytest.fixture
def setup(operator):
    """The PDF tests' operator (bank details printed on invoices), tariff and EVSE."""
    operator.bank_details = "IBAN DE89 3704 0044 0532 0130 00"
    operator.save()
    import_tariff(operator=operator, data=TARIFF)
    return operator, EVSEFactory(location__operator=operator)


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "title", "cancels", "note"),
    [
        ("en", "Cancellation invoice", "Cancels invoice", "This cancellation invoice cancels"),
        ("de", "Stornorechnung", "Storniert Rechnung", "Diese Stornorechnung storniert"),
    ],
)
def test_a_cancelled_invoice_is_a_cancellation_invoice_never_a_gutschrift(
    setup, language, title, cancels, note
):
    invoice = issue_document(setup, language=language)
    credit_note, _ = issue_credit_note(document=invoice, reason="Wrong tariff applied")

    text, _pages = text_of(credit_note)

    assert title in text and cancels in text and note in text
    assert invoice.display_number in text
    for absent in ("Gutschrift", "Credit note", "Please pay", "Bitte zahlen", "IBAN"):
        assert absent not in text, absent


@pytest.mark.parametrize(
    ("language", "title", "note"),
    [
        ("en", "Cancellation of receipt", "Cancellation of receipt {number}"),
        ("de", "Storno der Quittung", "Storno der Quittung {number}"),
    ],
)
def test_a_cancelled_receipt_says_cancellation_of_receipt_and_its_number(
    setup, language, title, note
):
    operator, _evse = setup
    set_options(operator, always_issue=True)
    receipt = issue_document(setup, language=language, requires_invoice=False)
    assert receipt.kind == DocumentKind.SALES_RECEIPT
    credit_note, _ = issue_credit_note(document=receipt, reason="Charged twice")

    text, _pages = text_of(credit_note)

    assert title in text
    assert note.format(number=receipt.display_number) in text
    assert "Gutschrift" not in text and "Please pay" not in text and "IBAN" not in text


@pytest.mark.parametrize("kind", [Customer.Kind.ANONYMOUS, Customer.Kind.AD_HOC])
def test_a_receipt_paid_on_the_spot_names_no_anonymous_customer_and_asks_no_transfer(setup, kind):
    operator, evse = setup
    InvoicingSettings.objects.filter(operator=operator).update(always_issue=True)
    walk_in = Customer.objects.filter(operator=operator, kind=kind).first() or CustomerFactory(
        operator=operator, kind=kind, name="", email="walkin@example.org"
    )
    # 700 kWh: above the simplified-receipt limit, so the recipient block and totals print.
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    (outcome,) = ingest_sessions(
        operator=operator,
        source="test",
        payloads=[
            {
                "source_id": f"WALKIN-{kind}",
                "evse_id": evse.evse_id,
                "tariff_id": TARIFF["id"],
                "start": start.isoformat(),
                "end": (start + timedelta(hours=8)).isoformat(),
                "energy_kwh": "700",
                "customer_id": walk_in.pk,
            }
        ],
    )
    (receipt,) = issue_session_documents(session_ids=[outcome.session_id])
    assert receipt.total_gross > 250

    text, _pages = text_of(receipt)

    assert "Sales receipt" in text
    for absent in ("Anonymous customer", "Please pay", "IBAN", "Due date"):
        assert absent not in text, absent
