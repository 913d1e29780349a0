"""A card-terminal capture matched to a session: its receipt issued once with the card facts
printed, paid by the capture; an undone or moved match credits it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.db import transaction

from invoicing.documents.card_receipts import card_receipt_of
from invoicing.documents.models import Document, DocumentKind, DocumentStatus
from invoicing.output.pdf import render_pdf
from invoicing.payments import ledger
from invoicing.payments.card_receipts import settle_card_payment, undo_card_payment
from invoicing.signals import terminal_match_undone, terminal_payment_matched
from tests.invoicing.helpers import make_priced_session
from tests.invoicing.receipts.conftest import capture_for, card_payment_for


def pdf_text(data: bytes) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(
        [tool, "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def settle(session, entry):
    return settle_card_payment(
        session_id=session.pk,
        transaction_id=entry.pk,
        card_payment=card_payment_for(session, entry),
    )


def test_a_matched_capture_gets_one_paid_receipt_with_the_card_facts(paid_session):
    entry = capture_for(paid_session)

    receipt = settle(paid_session, entry)
    again = settle(paid_session, entry)

    assert again.pk == receipt.pk
    assert Document.objects.filter(billed_sessions__session=paid_session).count() == 1
    assert receipt.kind == DocumentKind.SALES_RECEIPT
    assert receipt.status == DocumentStatus.PAID
    assert receipt.amount_paid == paid_session.total_gross
    assert ledger.unallocated(entry) == 0
    text = pdf_text(render_pdf(receipt))
    for printed in (
        receipt.display_number,
        paid_session.evse.evse_id,
        paid_session.evse.location.name,
        "VISA •••• 4242",
        "A1B2C3",
        "TERM-0042",
        "2026-03-02 12:02:31",  # the terminal's time at the Berlin location
        "2026-03-02 11:00:00",  # session start, local time
        "2026-03-02 12:00:00",  # session end, local time
        f"{entry.amount} EUR",
    ):
        assert printed in text, printed


def test_undoing_the_match_credits_the_receipt_and_frees_the_capture(paid_session):
    entry = capture_for(paid_session)
    receipt = settle(paid_session, entry)

    credit_note = undo_card_payment(session_id=paid_session.pk, transaction_id=entry.pk)
    assert undo_card_payment(session_id=paid_session.pk, transaction_id=entry.pk) is None

    receipt.refresh_from_db()
    assert receipt.status == DocumentStatus.CREDITED
    assert credit_note.credited_document_id == receipt.pk
    assert credit_note.kind == DocumentKind.CREDIT_NOTE
    assert ledger.unallocated(entry) == entry.amount


def test_a_moved_match_credits_the_old_receipt_and_pays_the_new_one(operator, walk_in):
    first = make_priced_session(operator, walk_in)
    second = make_priced_session(operator, walk_in)
    entry = capture_for(first)
    old = settle(first, entry)

    new = settle(second, entry)  # the reassignment ran before the undo

    old.refresh_from_db()
    assert old.status == DocumentStatus.CREDITED
    assert new.status == DocumentStatus.PAID
    assert card_receipt_of(session_id=second.pk, transaction_id=entry.pk).pk == new.pk
    assert undo_card_payment(session_id=first.pk, transaction_id=entry.pk) is None


def test_a_receipt_issued_before_the_match_is_replaced(operator, walk_in, invoicing_settings):
    from invoicing.documents.issuing import issue_session_documents

    invoicing_settings.always_issue = True
    invoicing_settings.save()
    session = make_priced_session(operator, walk_in)
    (plain,) = issue_session_documents(session_ids=[session.pk])
    entry = capture_for(session)

    receipt = settle(session, entry)

    plain.refresh_from_db()
    assert plain.status == DocumentStatus.CREDITED
    assert receipt.card_payment["last4"] == "4242"
    assert receipt.status == DocumentStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_the_signals_issue_and_cancel_the_receipt_through_a_real_worker(
    celery_worker_thread, operator, walk_in
):
    session = make_priced_session(operator, walk_in)
    entry = capture_for(session)

    with transaction.atomic():
        terminal_payment_matched.send(
            sender=None,
            session_id=session.pk,
            transaction_id=entry.pk,
            card_payment=card_payment_for(session, entry),
        )
    receipt = _wait_for(lambda: card_receipt_of(session_id=session.pk, transaction_id=entry.pk))
    assert _wait_for(lambda: Document.objects.get(pk=receipt.pk).status == DocumentStatus.PAID)

    with transaction.atomic():
        terminal_match_undone.send(sender=None, session_id=session.pk, transaction_id=entry.pk)
    assert _wait_for(lambda: Document.objects.get(pk=receipt.pk).status == DocumentStatus.CREDITED)


def _wait_for(check, seconds=20):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("not within the time")


def test_staff_see_the_card_payment_on_the_receipt_in_the_admin(admin_client, paid_session):
    from django.urls import reverse

    entry = capture_for(paid_session)
    receipt = settle(paid_session, entry)

    page = admin_client.get(reverse("admin:invoicing_document_change", args=[receipt.pk]))

    assert page.status_code == 200
    assert "VISA •••• 4242" in page.text
    assert "TERM-0042" in page.text
