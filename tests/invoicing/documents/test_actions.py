"""Which actions a document allows: one answer for the services, the admin and the API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cpo_portal.kernel.errors import StateConflict
from invoicing.documents import actions
from invoicing.documents.actions import DocumentActionRefused, allowed_actions, require_action
from invoicing.documents.issuing import issue_credit_note, issue_session_documents
from invoicing.payments.recording import record_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(charge, per_session_customer):
    (session,) = charge(per_session_customer)
    (invoice,) = issue_session_documents(session_ids=[session.pk], issue_date=date(2026, 10, 5))
    return invoice


def test_an_issued_invoice_allows_every_action(invoice):
    # Withdrawing is for pro forma documents only.
    assert allowed_actions(invoice) == set(actions.ACTIONS) - {actions.WITHDRAW}


def test_a_paid_invoice_takes_no_more_payments_but_can_still_be_credited(invoice):
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=date(2026, 10, 6))

    invoice.refresh_from_db()
    assert actions.RECORD_PAYMENT not in allowed_actions(invoice)
    assert actions.CREDIT in allowed_actions(invoice)
    with pytest.raises(DocumentActionRefused, match="is paid; no payment is due"):
        require_action(invoice, actions.RECORD_PAYMENT)


def test_a_credited_invoice_and_its_credit_note_are_neither_credited_nor_paid(invoice):
    credit_note, _ = issue_credit_note(document=invoice, reason="Wrong address")
    invoice.refresh_from_db()

    for document in (invoice, credit_note):
        assert allowed_actions(document) == {
            actions.CORRECT_RECIPIENT,
            actions.RESEND,
            actions.RERENDER,
        }
    with pytest.raises(DocumentActionRefused, match="already credited"):
        require_action(invoice, actions.CREDIT)
    with pytest.raises(DocumentActionRefused, match="not credit notes"):
        require_action(credit_note, actions.RECORD_PAYMENT)


def test_a_refused_action_is_a_state_conflict_and_the_service_changes_nothing(invoice):
    record_payment(document=invoice, amount=invoice.total_gross, paid_on=date(2026, 10, 6))

    with pytest.raises(StateConflict):
        record_payment(document=invoice, amount=Decimal("1.00"), paid_on=date(2026, 10, 7))
    assert invoice.payments.count() == 1


def test_an_unknown_action_is_a_programming_error(invoice):
    with pytest.raises(ValueError, match="Unknown document action"):
        require_action(invoice, "shred")
