"""Pro forma invoices are withdrawn, not credited; a credit note's replacement can be re-priced
under the tariff and tax rules of today; credited sessions can be billed again on request."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from invoicing.documents.actions import CREDIT, WITHDRAW, DocumentActionRefused, allowed_actions
from invoicing.documents.composition import InvoicingError
from invoicing.documents.issuing import (
    bill_sessions,
    issue_credit_note,
    issue_session_documents,
    withdraw_pro_forma,
)
from invoicing.documents.selectors import billed
from invoicing.models import Document, DocumentKind, DocumentStatus, InvoicingSettings, TaxRule
from sessions.models import ChargingSession
from sessions.services import import_tariff
from tests.invoicing.conftest import TARIFF

pytestmark = pytest.mark.django_db
INVOICES = "/api/v1/invoices/"


@pytest.fixture
def pro_forma(operator, charge, per_session_customer):
    InvoicingSettings.objects.filter(operator=operator).update(document_type="pro_forma")
    (session,) = charge(per_session_customer)
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))
    assert document.kind == DocumentKind.PRO_FORMA
    return document


@pytest.fixture
def invoice(charge, per_session_customer):
    (session,) = charge(per_session_customer)
    (document,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))
    return document


def _session(document: Document) -> ChargingSession:
    return document.billed_sessions.get().session


# --- pro forma: withdrawn, not credited --------------------------------------------------------


def test_a_pro_forma_is_withdrawn_without_a_credit_note_and_its_sessions_are_billable(pro_forma):
    clerk = get_user_model().objects.create_user("clerk")
    session = _session(pro_forma)
    assert allowed_actions(pro_forma) >= {WITHDRAW} and CREDIT not in allowed_actions(pro_forma)

    withdrawn = withdraw_pro_forma(document=pro_forma, reason="Order cancelled", withdrawn_by=clerk)

    assert withdrawn.status == DocumentStatus.WITHDRAWN
    assert (withdrawn.withdrawal_reason, withdrawn.withdrawn_by_name) == (
        "Order cancelled",
        "clerk",
    )
    assert withdrawn.withdrawn_at is not None
    assert withdrawn.total_vat == pro_forma.total_vat  # the document itself stays as issued
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()
    assert not billed(ChargingSession.objects.filter(pk=session.pk)).exists()
    (again,) = bill_sessions(session_ids=[session.pk])
    assert again.kind == DocumentKind.PRO_FORMA and again.display_number == "PF-000002"


def test_a_pro_forma_is_never_credited_and_an_invoice_never_withdrawn(pro_forma, charge, operator):
    with pytest.raises(DocumentActionRefused, match="withdraw it instead"):
        issue_credit_note(document=pro_forma, reason="Wrong")
    with pytest.raises(InvoicingError, match="Say why"):
        withdraw_pro_forma(document=pro_forma, reason=" ")
    withdraw_pro_forma(document=pro_forma, reason="Wrong")
    with pytest.raises(DocumentActionRefused, match="already withdrawn"):
        withdraw_pro_forma(document=pro_forma, reason="Again")
    InvoicingSettings.objects.filter(operator=operator).update(document_type="invoice")
    (session,) = charge(pro_forma.customer)
    (invoice,) = issue_session_documents(session_ids=[session.pk])
    with pytest.raises(DocumentActionRefused, match="Only a pro forma invoice is withdrawn"):
        withdraw_pro_forma(document=invoice, reason="No")


def test_the_api_withdraws_a_pro_forma_once_and_never_credits_it(api, pro_forma):
    credit = api.post(f"{INVOICES}{pro_forma.pk}/credit-note/", {"reason": "No"})
    response = api.post(f"{INVOICES}{pro_forma.pk}/withdraw/", {"reason": "Order cancelled"})
    refused = api.post(f"{INVOICES}{pro_forma.pk}/withdraw/", {"reason": "Again"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "withdrawn"
    assert body["withdrawal"]["reason"] == "Order cancelled"
    assert body["withdrawal"]["by"].startswith("API: ")
    assert (refused.status_code, credit.status_code) == (409, 409)
    assert "already withdrawn" in refused.json()["detail"]
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()


def test_the_api_refuses_to_withdraw_an_invoice(api, invoice):
    refused = api.post(f"{INVOICES}{invoice.pk}/withdraw/", {"reason": "No"})

    assert refused.status_code == 409
    assert "Only a pro forma invoice is withdrawn" in refused.json()["detail"]


def test_the_admin_offers_withdraw_on_a_pro_forma_and_records_it(admin_client, pro_forma):
    page = admin_client.get(reverse("admin:invoicing_document_change", args=[pro_forma.pk]))
    url = reverse("admin:invoicing_document_withdraw", args=[pro_forma.pk])

    assert url in page.text
    assert reverse("admin:invoicing_document_credit_note", args=[pro_forma.pk]) not in page.text
    response = admin_client.post(url, {"reason": "Sent twice"}, follow=True)

    pro_forma.refresh_from_db()
    assert pro_forma.status == DocumentStatus.WITHDRAWN
    assert (pro_forma.withdrawal_reason, pro_forma.withdrawn_by_name) == ("Sent twice", "admin")
    assert "is withdrawn" in response.text


# --- corrections that correct ------------------------------------------------------------------


def test_a_replacement_is_re_priced_under_the_corrected_tariff_and_the_new_vat_rule(
    invoice, operator
):
    session = _session(invoice)
    assert invoice.vat_summary[0]["rate"] == "19.00"
    # The tariff was wrong (0.40/kWh instead of 0.30) and so was the rule (now 7 % from 1.1.).
    import_tariff(
        operator=operator,
        data={
            **TARIFF,
            "elements": [
                *TARIFF["elements"][:1],
                {
                    "price_components": [
                        {"type": "ENERGY", "price": Decimal("0.30"), "step_size": 1}
                    ]
                },
                *TARIFF["elements"][2:],
            ],
        },
    )
    TaxRule.objects.create(
        country="DE", category="electricity", valid_from=date(2026, 1, 1), rate=7
    )
    TaxRule.objects.create(country="DE", category="services", valid_from=date(2026, 1, 1), rate=7)

    _note, replacement = issue_credit_note(
        document=invoice, reason="Wrong tariff and VAT", reissue=True, reprice=True
    )

    # 1.00 connection + 10 kWh at 0.30 + 5 min idle at 6.00/h = 4.50 net, 7 % = 0.32.
    assert (replacement.total_net, replacement.total_vat) == (Decimal("4.50"), Decimal("0.32"))
    assert [row["rate"] for row in replacement.vat_summary] == ["7.00"]
    session.refresh_from_db()
    assert {line.vat_rate for line in session.charge_lines.all()} == {Decimal("7.00")}
    energy = session.charge_lines.get(component="energy")
    assert energy.unit_price == Decimal("0.30")


def test_without_re_pricing_the_replacement_keeps_the_credited_prices(invoice, operator):
    import_tariff(
        operator=operator,
        data={
            **TARIFF,
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": Decimal("0.30"), "step_size": 1}]}
            ],
        },
    )

    _note, replacement = issue_credit_note(document=invoice, reason="Address", reissue=True)

    assert replacement.total_net == invoice.total_net


def test_re_pricing_needs_a_replacement(invoice):
    with pytest.raises(InvoicingError, match="Re-pricing applies to the replacement"):
        issue_credit_note(document=invoice, reason="Wrong", reprice=True)
    assert not Document.objects.filter(kind=DocumentKind.CREDIT_NOTE).exists()


def test_a_credited_session_is_billed_again_from_the_admin(admin_client, invoice):
    session = _session(invoice)
    issue_credit_note(document=invoice, reason="Wrong customer details")

    response = admin_client.post(
        reverse("admin:charging_chargingsession_changelist"),
        {"action": "bill_again", "_selected_action": [session.pk]},
        follow=True,
    )

    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message == "Issued: INV-000002."
    again = Document.objects.get(display_number="INV-000002")
    assert (again.origin, again.total_gross) == ("correction", invoice.total_gross)
    assert billed(ChargingSession.objects.filter(pk=session.pk)).exists()


def test_a_credited_session_is_billed_again_through_the_api_and_only_once(api, invoice):
    session = _session(invoice)
    before = api.post(f"/api/v1/sessions/{session.pk}/bill/")
    issue_credit_note(document=invoice, reason="Wrong customer details")

    first = api.post(f"/api/v1/sessions/{session.pk}/bill/")
    second = api.post(f"/api/v1/sessions/{session.pk}/bill/")

    assert before.status_code == 400
    assert "already billed" in before.json()["detail"][0]
    assert first.status_code == 201, first.json()
    assert first.json()["documents"][0]["number"] == "INV-000002"
    assert second.status_code == 400
