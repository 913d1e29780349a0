"""Documents through the API: lists, details with breakdown, PDFs, credit notes, payments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from invoicing.documents.issuing import issue_credit_note
from invoicing.models import Document, DocumentStatus, Payment
from invoicing.output import pdf
from invoicing.payments.recording import record_payment
from tests.factories import CustomerFactory
from tests.invoicing.helpers import issue_invoice_for

INVOICES = "/api/v1/invoices/"


@pytest.fixture
def invoice(per_session_customer) -> Document:
    return issue_invoice_for(per_session_customer)


def test_the_list_filters_by_date_status_kind_customer_and_number(
    api, operator, invoice, monthly_company
):
    monthly = issue_invoice_for(monthly_company, sessions=2)
    credit_note, _ = issue_credit_note(document=monthly, reason="Wrong tariff")

    def ids(**params):
        response = api.get(INVOICES, params)
        assert response.status_code == 200, response.json()
        return [d["id"] for d in response.json()["results"]]

    assert ids() == [credit_note.pk, monthly.pk, invoice.pk]
    assert ids(status="credited") == [monthly.pk]
    assert ids(kind="credit_note") == [credit_note.pk]
    assert ids(customer=monthly_company.pk) == [credit_note.pk, monthly.pk]
    assert ids(number=invoice.display_number) == [invoice.pk]
    assert ids(issued_from=invoice.issue_date.isoformat()) == [
        credit_note.pk,
        monthly.pk,
        invoice.pk,
    ]
    assert ids(issued_to=(invoice.issue_date - timedelta(days=1)).isoformat()) == []


def test_a_listed_document_has_totals_as_decimal_strings_and_its_vat_summary(api, invoice):
    (listed,) = api.get(INVOICES).json()["results"]

    assert listed["number"] == invoice.display_number
    assert (listed["total_net"], listed["total_vat"], listed["total_gross"]) == (
        "4.20",
        "0.80",
        "5.00",
    )
    assert listed["vat_summary"] == [
        {"rate": "19.00", "net": "4.20", "vat": "0.80", "gross": "5.00"}
    ]
    assert listed["outstanding"] == "5.00"
    assert listed["pdf_url"].endswith(f"/api/v1/invoices/{invoice.pk}/pdf/")


def test_the_detail_has_lines_and_every_sessions_breakdown(api, monthly_company):
    document = issue_invoice_for(monthly_company, sessions=2)

    body = api.get(f"{INVOICES}{document.pk}/").json()

    assert [line["service"] for line in body["lines"]] == ["energy"]
    assert body["lines"][0]["quantity"] == "21.000"
    assert len(body["sessions"]) == 2
    assert all(s["breakdown"][0]["net"] == "4.20" for s in body["sessions"])
    assert body["supplier"]["legal_name"] == "VoltWay Charging GmbH"
    assert body["payments"] == []


def test_the_pdf_is_409_until_it_is_rendered_then_downloaded(api, invoice):
    pending = api.get(f"{INVOICES}{invoice.pk}/pdf/")
    assert (pending.status_code, pending["Retry-After"]) == (409, "30")
    assert pending["Content-Type"] == "application/json"

    pdf.store_document_pdf(document_id=invoice.pk)
    response = api.get(f"{INVOICES}{invoice.pk}/pdf/", Accept="application/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_a_credit_note_negates_the_document_and_can_reissue_it(api, invoice):
    response = api.post(
        f"{INVOICES}{invoice.pk}/credit-note/", {"reason": "Wrong address", "reissue": True}
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["credit_note"]["kind"] == "credit_note"
    assert body["credit_note"]["total_gross"] == "-5.00"
    assert body["credit_note"]["credited_document"] == invoice.pk
    assert body["replacement"]["total_gross"] == "5.00"
    assert api.get(f"{INVOICES}{invoice.pk}/").json()["credit_note"] == body["credit_note"]["id"]


def test_crediting_twice_or_crediting_a_credit_note_is_a_conflict(api, invoice):
    first = api.post(f"{INVOICES}{invoice.pk}/credit-note/", {"reason": "Wrong"}).json()

    again = api.post(f"{INVOICES}{invoice.pk}/credit-note/", {"reason": "Wrong"})
    of_note = api.post(f"{INVOICES}{first['credit_note']['id']}/credit-note/", {"reason": "Wrong"})

    assert again.status_code == 409
    assert "already credited" in again.json()["detail"]
    assert of_note.status_code == 409
    assert Document.objects.count() == 2


def test_a_credit_note_needs_a_reason(api, invoice):
    response = api.post(f"{INVOICES}{invoice.pk}/credit-note/", {"reason": "  "})

    assert response.status_code == 400
    assert Document.objects.count() == 1


def test_payments_make_the_document_paid_once_they_cover_it(api, invoice):
    url = f"{INVOICES}{invoice.pk}/payments/"

    part = api.post(url, {"amount": "2.00", "paid_on": "2026-03-10", "method": "card"})
    rest = api.post(
        url,
        {"amount": "3.00", "paid_on": "2026-03-11", "method": "bank_transfer", "reference": "X1"},
    )

    assert (part.status_code, rest.status_code) == (201, 201)
    assert rest.json()["amount"] == "3.00"
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.paid_on) == (
        DocumentStatus.PAID,
        Decimal("5.00"),
        date(2026, 3, 11),
    )
    assert [p["reference"] for p in api.get(url).json()] == ["", "X1"]


def test_overpaying_is_400_and_paying_a_paid_document_is_409(api, invoice):
    url = f"{INVOICES}{invoice.pk}/payments/"

    too_much = api.post(url, {"amount": "5.01", "paid_on": "2026-03-10", "method": "card"})
    api.post(url, {"amount": "5.00", "paid_on": "2026-03-10", "method": "card"})
    after = api.post(url, {"amount": "1.00", "paid_on": "2026-03-10", "method": "card"})

    assert too_much.status_code == 400
    assert set(too_much.json()) == {"amount"}
    assert after.status_code == 409
    assert Payment.objects.count() == 1


def test_a_payment_amount_is_a_positive_decimal_with_two_places(api, invoice):
    url = f"{INVOICES}{invoice.pk}/payments/"

    for amount in ("0", "-1", "1.001", "abc"):
        response = api.post(url, {"amount": amount, "paid_on": "2026-03-10", "method": "card"})
        assert (response.status_code, list(response.json())) == (400, ["amount"]), amount
    assert not Payment.objects.exists()


def test_an_amount_in_exponent_notation_is_refused(api, invoice):
    url = f"{INVOICES}{invoice.pk}/payments/"
    body = {"paid_on": "2026-03-10", "method": "card"}

    for amount in ("1e2", "1E+0", " 2e0 ", "0x10", "1_00", "+3.00", "Infinity", "NaN", True):
        response = api.post(url, {**body, "amount": amount})
        assert (response.status_code, list(response.json())) == (400, ["amount"]), amount
    as_number = api.post(url, raw=b'{"amount": 1e2, "paid_on": "2026-03-10", "method": "card"}')
    assert (as_number.status_code, list(as_number.json())) == (400, ["amount"])
    assert "plain positive decimal" in as_number.json()["amount"][0]
    assert not Payment.objects.exists()
    # A plain JSON number is fine.
    plain = api.post(url, raw=b'{"amount": 1.5, "paid_on": "2026-03-10", "method": "card"}')
    assert plain.status_code == 201, plain.json()


def test_a_payment_date_must_be_believable(api, invoice):
    from cpo_portal.kernel.periods import today_for

    url = f"{INVOICES}{invoice.pk}/payments/"
    today = today_for(invoice.operator)

    for paid_on in ("9999-12-31", "0001-01-01", "1900-01-01", str(today + timedelta(days=2))):
        response = api.post(url, {"amount": "1.00", "paid_on": paid_on, "method": "card"})
        assert (response.status_code, list(response.json())) == (400, ["paid_on"]), paid_on
        assert "between" in response.json()["paid_on"][0]
    assert not Payment.objects.exists()
    ok = api.post(url, {"amount": "1.00", "paid_on": str(today), "method": "card"})
    assert ok.status_code == 201


def test_another_operators_documents_answer_404(other_api, invoice):
    assert other_api.get(f"{INVOICES}{invoice.pk}/").status_code == 404
    assert other_api.get(INVOICES).json()["results"] == []


def test_a_page_of_documents_costs_the_same_queries_whatever_its_size(api, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(count: int) -> int:
        for _ in range(count):
            document = issue_invoice_for(
                CustomerFactory(
                    operator=operator, requires_invoice=True, billing_mode="per_session"
                )
            )
            # A credited document and its credit note name each other in the list.
            issue_credit_note(document=document, reason="Wrong recipient")
        api.get(INVOICES)  # the key's first use of the minute records it: not part of a page
        with CaptureQueriesContext(connection) as captured:
            assert len(api.get(INVOICES).json()["results"]) == Document.objects.count()
        return len(captured)

    assert queries(1) == queries(5)


def test_a_listed_document_says_exactly_what_its_detail_says(api, invoice, monthly_company):
    monthly = issue_invoice_for(monthly_company, sessions=2)
    credit_note, _ = issue_credit_note(document=monthly, reason="Wrong tariff")
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=invoice.issue_date)

    listed = api.get(INVOICES).json()["results"]

    assert [d["id"] for d in listed] == [credit_note.pk, monthly.pk, invoice.pk]
    for row in listed:
        detail = api.get(f"{INVOICES}{row['id']}/").json()
        assert row == {field: detail[field] for field in row}
    assert listed[1]["credit_note"] == credit_note.pk
    assert listed[0]["credited_document"] == monthly.pk
