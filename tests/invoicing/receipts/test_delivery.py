"""Delivering a card receipt: the QR code per session through the API, the public page behind
a signed token (rate limited, each retrieval logged, "being prepared" until issued), "find my
receipt", the e-mail a driver leaves and its erasure, and the business driver's invoice."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.core import mail
from django.utils import timezone

from customers.models import Customer, OutboundMessage
from customers.notifications.sending import send_due_messages, send_message
from invoicing.documents.models import Document, DocumentKind, DocumentStatus
from invoicing.output import pipeline
from invoicing.output.erasure import erase_expired_ad_hoc_addresses
from invoicing.output.models import ReceiptEmailRequest, ReceiptRetrieval
from invoicing.output.receipt_links import receipt_path, receipt_token
from invoicing.output.receipt_requests import send_for_document
from invoicing.payments import ledger
from invoicing.payments.card_receipts import settle_card_payment
from tests.factories import CustomerFactory
from tests.invoicing.helpers import make_priced_session
from tests.invoicing.receipts.conftest import capture_for, card_payment_for

What = ReceiptRetrieval.What


def issued(session):
    entry = capture_for(session)
    receipt = settle_card_payment(
        session_id=session.pk,
        transaction_id=entry.pk,
        card_payment=card_payment_for(session, entry),
    )
    pipeline.render_document(document_id=receipt.pk, reason="issue")
    return receipt, entry


def test_the_qr_code_leads_to_the_sessions_receipt_page_as_png_svg_and_url(api, paid_session):
    url = f"/api/v1/sessions/{paid_session.pk}/receipt-qr/"

    as_url = api.get(url + "?format=url")
    png = api.get(url + "?format=png")
    svg = api.get(url + "?format=svg")

    assert as_url.status_code == 200
    assert as_url.json()["url"].endswith(receipt_path(paid_session.pk))
    assert as_url.json()["url"].startswith("http")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert ReceiptRetrieval.objects.filter(session=paid_session, what=What.QR).count() == 3


def test_an_unknown_format_is_refused_and_another_operators_session_is_not_found(api, paid_session):
    assert api.get(f"/api/v1/sessions/{paid_session.pk}/receipt-qr/?format=gif").status_code == 404
    assert api.get("/api/v1/sessions/999999/receipt-qr/?format=url").status_code == 404


def test_the_page_says_being_prepared_until_the_receipt_is_issued(client, paid_session):
    page = client.get(receipt_path(paid_session.pk))
    assert page.status_code == 200
    assert "being prepared" in page.text

    receipt, _entry = issued(paid_session)
    page = client.get(receipt_path(paid_session.pk))

    assert receipt.display_number in page.text
    assert "VISA •••• 4242" in page.text
    pdf = client.get(receipt_path(paid_session.pk) + "pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.getvalue().startswith(b"%PDF")
    assert list(
        ReceiptRetrieval.objects.filter(session=paid_session)
        .order_by("id")
        .values_list("what", "document_id")
    ) == [(What.PAGE, None), (What.PAGE, receipt.pk), (What.PDF, receipt.pk)]


def test_a_forged_or_altered_token_finds_nothing(client, paid_session, operator, walk_in):
    token = receipt_token(paid_session.pk)
    other = str(paid_session.pk + 1) + token[token.index(".") :]

    assert client.get(f"/r/{other}/").status_code == 404
    assert client.get(f"/r/{paid_session.pk}/").status_code == 404
    assert not ReceiptRetrieval.objects.exists()


def test_the_page_is_rate_limited_per_client_address(client, paid_session, settings):
    settings.RECEIPT_PAGE_RATE = 3
    codes = [client.get(receipt_path(paid_session.pk)).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    assert ReceiptRetrieval.objects.count() == 3


def test_find_my_receipt_needs_all_four_details_exactly(client, paid_session):
    receipt, entry = issued(paid_session)
    ended = receipt.card_payment["ended"][:10]
    exact = {
        "date": ended,
        "evse_id": paid_session.evse.evse_id,
        "last4": "4242",
        "amount": str(entry.amount),
    }

    found = client.post("/receipts/find/", exact)
    wrong_amount = client.post("/receipts/find/", {**exact, "amount": str(entry.amount + 1)})
    wrong_card = client.post("/receipts/find/", {**exact, "last4": "4243"})
    nonsense = client.post("/receipts/find/", {**exact, "date": "yesterday"})

    assert found.status_code == 302 and found["Location"] == receipt_path(paid_session.pk)
    for response in (wrong_amount, wrong_card, nonsense):
        assert response.status_code == 404
        assert "No receipt matches" in response.text


def test_find_my_receipt_is_rate_limited(client, paid_session, settings):
    settings.RECEIPT_SEARCH_RATE = 2
    guess = {"date": "2026-03-02", "evse_id": "X", "last4": "0000", "amount": "1"}
    codes = [client.post("/receipts/find/", guess).status_code for _ in range(3)]
    assert codes == [404, 404, 429]


def test_the_receipt_is_emailed_to_the_address_left_and_the_address_erased_after_30_days(
    client, paid_session, django_capture_on_commit_callbacks
):
    # Left while the receipt is being prepared: sent once its PDF exists.
    client.post(receipt_path(paid_session.pk), {"action": "email", "email": "d@example.org"})
    receipt, _entry = issued(paid_session)
    assert send_for_document(receipt.pk) == 1
    assert send_for_document(receipt.pk) == 0
    message = OutboundMessage.objects.get(event="receipt_email")
    assert send_message(message.pk) == "sent"
    email = mail.outbox[-1]
    assert email.to == ["d@example.org"]
    ((name, content, mimetype),) = email.attachments
    assert (name, mimetype) == (f"{receipt.display_number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")

    erase_expired_ad_hoc_addresses(now=timezone.now() + timedelta(days=31))

    assert ReceiptEmailRequest.objects.get().email == ""
    message.refresh_from_db()
    assert (message.recipient, message.body_text) == ("", "")


def test_a_bad_address_is_refused_on_the_page(client, paid_session):
    response = client.post(receipt_path(paid_session.pk), {"action": "email", "email": "nope"})
    assert response.status_code == 400
    assert "valid e-mail" in response.text
    assert not ReceiptEmailRequest.objects.exists()


COMPANY = {
    "action": "invoice",
    "company_name": "Fleet GmbH",
    "vat_id": "DE136695976",
    "street": "Werkstraße 1",
    "postal_code": "80331",
    "city": "München",
    "country": "de",
    "email": "accounts@fleet.example",
}


def test_a_business_driver_turns_the_receipt_into_a_paid_invoice(client, paid_session):
    receipt, entry = issued(paid_session)

    response = client.post(receipt_path(paid_session.pk), COMPANY)

    assert response.status_code == 302
    receipt.refresh_from_db()
    invoice = Document.objects.get(kind=DocumentKind.INVOICE)
    credit_note = Document.objects.get(kind=DocumentKind.CREDIT_NOTE)
    assert receipt.status == DocumentStatus.CREDITED
    assert credit_note.credited_document_id == receipt.pk
    assert credit_note.status == DocumentStatus.PAID  # nothing to refund: the money moved
    assert invoice.status == DocumentStatus.PAID
    assert invoice.recipient_name == "Fleet GmbH" and invoice.recipient_vat_id == "DE136695976"
    assert invoice.customer.kind == Customer.Kind.COMPANY
    assert invoice.card_payment["last4"] == "4242"
    assert invoice.display_number != receipt.display_number
    assert ledger.unallocated(entry) == 0
    assert invoice.amount_paid == entry.amount == invoice.total_gross
    assert receipt.amount_paid == Decimal("0.00")
    page = client.get(receipt_path(paid_session.pk))
    assert invoice.display_number in page.text
    assert "Need an invoice" not in page.text


def test_an_invoice_without_an_address_is_refused_and_the_receipt_stays(client, paid_session):
    receipt, _entry = issued(paid_session)

    response = client.post(receipt_path(paid_session.pk), {**COMPANY, "street": ""})

    assert response.status_code == 400
    receipt.refresh_from_db()
    assert receipt.status == DocumentStatus.PAID
    assert not Document.objects.filter(kind=DocumentKind.INVOICE).exists()
    assert not Customer.objects.filter(company_name="Fleet GmbH").exists()


def test_no_invoice_before_the_receipt_exists(client, paid_session):
    response = client.post(receipt_path(paid_session.pk), COMPANY)
    assert response.status_code == 400
    assert "no receipt to turn into an invoice" in response.text


def test_the_demo_link_leads_to_the_first_card_receipt_only_in_development(
    client, paid_session, settings
):
    settings.DEVELOPMENT = True
    assert client.get("/receipts/demo/")["Location"] == "/receipts/find/"
    issued(paid_session)
    assert client.get("/receipts/demo/")["Location"] == receipt_path(paid_session.pk)

    settings.DEVELOPMENT = False
    assert client.get("/receipts/demo/").status_code == 404


def test_a_card_receipt_sends_the_link_to_its_public_page(operator, settings):
    settings.PUBLIC_BASE_URL = "https://cpo.example"
    driver = CustomerFactory(operator=operator, name="Eva", email="eva@example.org", language="de")
    session = make_priced_session(
        operator, driver, start=datetime.fromisoformat("2026-03-02T10:00:00+00:00")
    )
    receipt, _entry = issued(session)
    send_due_messages()

    (email,) = [m for m in mail.outbox if m.to == ["eva@example.org"]]
    assert email.subject == f"Ihr Beleg {receipt.display_number} ist da"
    assert f"https://cpo.example{receipt_path(session.pk)}" in email.body
    assert not email.attachments
