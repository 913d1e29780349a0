"""Terminal transactions taken in and matched to stored sessions; staff decisions in review."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.payments.models import PaymentTransaction
from invoicing.signals import terminal_match_undone, terminal_payment_matched
from invoicing.terminals import ingest, live, review
from invoicing.terminals.models import MatchState, TerminalTransaction
from tests.factories import ChargingSessionFactory

pytestmark = pytest.mark.django_db


def paid(session, n=1, amount="18.42", **extra):
    return [
        {
            "id": f"A{n}",
            "terminal_id": "T-1",
            "kind": "authorization",
            "amount": "50.00",
            "currency": "EUR",
            "at": (session.started_at - timedelta(minutes=1)).isoformat(),
        },
        {
            "id": f"C{n}",
            "terminal_id": "T-1",
            "kind": "capture",
            "amount": amount,
            "currency": "EUR",
            "at": (session.ended_at + timedelta(seconds=151)).isoformat(),
            "authorization_id": f"A{n}",
            "card_brand": "VISA",
            "card_last4": "4242",
            "authorization_code": "123456",
            **extra,
        },
    ]


@pytest.fixture
def heard():
    calls = []

    def matched(sender, **kwargs):
        calls.append(("matched", kwargs))

    def undone(sender, **kwargs):
        calls.append(("undone", kwargs))

    terminal_payment_matched.connect(matched)
    terminal_match_undone.connect(undone)
    yield calls
    terminal_payment_matched.disconnect(matched)
    terminal_match_undone.disconnect(undone)


def test_a_payment_is_matched_to_its_session_and_the_receipt_side_hears_of_it(site, heard):
    operator, terminal, _, session = site
    ingest.receive_many(paid(session), operator=operator, source="api")
    assert live.match_terminal(terminal.pk) == {"matched": 1, "review": 0}
    capture = TerminalTransaction.objects.get(transaction_id="C1")
    assert capture.session == session and capture.match_state == MatchState.MATCHED
    assert "3 min after session S-88" in capture.match_explanation
    assert TerminalTransaction.objects.get(transaction_id="A1").match_state == MatchState.MATCHED
    ((name, kwargs),) = heard
    assert name == "matched" and kwargs["session_id"] == session.pk
    assert kwargs["transaction_id"] == capture.entry_id
    assert kwargs["card_payment"] == {
        "brand": "VISA",
        "last4": "4242",
        "authorization_code": "123456",
        "terminal_id": "T-1",
        "at": capture.terminal_time.isoformat(),
        "amount": "18.42",
        "currency": "EUR",
    }
    assert live.match_terminal(terminal.pk) == {"matched": 0, "review": 0}


def test_two_equal_sessions_on_a_pay_station_go_to_review_and_staff_choose(site, heard):
    operator, terminal, evses, session = site
    twin = ChargingSessionFactory(
        operator=operator,
        evse=evses[1],
        total_gross=Decimal("18.42"),
        started_at=session.started_at,
        ended_at=session.ended_at,
    )
    ingest.receive_many(paid(session), operator=operator, source="api")
    assert live.match_terminal(terminal.pk) == {"matched": 0, "review": 1}
    capture = TerminalTransaction.objects.get(transaction_id="C1")
    assert sorted(capture.review_candidates) == sorted([session.pk, twin.pk])
    assert "equally well" in capture.match_explanation

    user = operator_user()
    review.confirm(capture_pk=capture.pk, session_pk=twin.pk, user=user, why="driver called")
    capture.refresh_from_db()
    assert (capture.session, capture.match_state, capture.matched_by) == (
        twin,
        MatchState.CONFIRMED,
        user,
    )
    review.reassign(capture_pk=capture.pk, session_pk=session.pk, user=user, why="wrong bay")
    review.undo(capture_pk=capture.pk, user=user, why="refunded in cash")
    capture.refresh_from_db()
    assert capture.session is None and capture.match_state == MatchState.REVIEW
    assert capture.match_note == "refunded in cash"
    assert [(name, kw["session_id"]) for name, kw in heard] == [
        ("matched", twin.pk),
        ("undone", twin.pk),
        ("matched", session.pk),
        ("undone", session.pk),
    ]
    with pytest.raises(InvalidInput, match="Say why"):
        review.reassign(capture_pk=capture.pk, session_pk=session.pk, user=user, why=" ")


def operator_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create(username="support")


def test_bad_input_is_refused_with_its_reason_and_nothing_is_half_stored(site):
    operator, _, _, session = site
    auth, capture = paid(session)
    with pytest.raises(InvalidInput) as unknown:
        ingest.receive(dict(auth, terminal_id="T-9"), operator=operator, source="api")
    assert "Unknown terminal" in unknown.value.errors["terminal_id"][0]
    ingest.receive(auth, operator=operator, source="api")
    with pytest.raises(InvalidInput) as mismatch:
        ingest.receive(dict(capture, currency="CHF"), operator=operator, source="api")
    assert "not CHF" in mismatch.value.errors["currency"][0]
    with pytest.raises(InvalidInput) as floats:
        ingest.receive(dict(capture, amount=18.42, at="noon"), operator=operator, source="api")
    assert set(floats.value.errors) == {"amount", "at"}
    ingest.receive(capture, operator=operator, source="api")
    with pytest.raises(InvalidInput, match=r"more than the 18\.42 captured"):
        ingest.receive(
            {
                "id": "R1",
                "terminal_id": "T-1",
                "kind": "refund",
                "amount": "20.00",
                "currency": "EUR",
                "at": capture["at"],
                "authorization_id": "A1",
            },
            operator=operator,
            source="api",
        )
    assert ingest.receive(capture, operator=operator, source="settlement").created is False
    with pytest.raises(StateConflict, match="other facts"):
        ingest.receive(dict(capture, amount="18.43"), operator=operator, source="api")
    assert PaymentTransaction.objects.count() == TerminalTransaction.objects.count() == 2


def test_a_capture_without_authorization_waits_in_review_with_its_reason(site):
    operator, terminal, _, session = site
    _, capture = paid(session)
    del capture["authorization_id"]
    received = ingest.receive(capture, operator=operator, source="api").transaction
    assert received.match_state == MatchState.REVIEW
    assert "without authorization" in received.match_explanation
    assert live.match_terminal(terminal.pk) == {"matched": 0, "review": 0}


def test_a_bad_row_in_a_batch_stores_none_of_it(site):
    operator, _, _, session = site
    rows = [*paid(session), dict(paid(session, n=2)[1], currency="USD")]
    with pytest.raises(InvalidInput) as refused:
        ingest.receive_many(rows, operator=operator, source="api")
    assert "2.authorization_id" in refused.value.errors
    with pytest.raises(InvalidInput, match="appears twice"):
        ingest.receive_many([rows[0], rows[0]], operator=operator, source="api")
    assert not TerminalTransaction.objects.exists() and not PaymentTransaction.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_transaction_by_webhook_and_settlement_file_at_once_is_stored_once(site):
    operator, terminal, _, session = site
    auth, capture = paid(session)
    ingest.receive(auth, operator=operator, source="api")
    barrier = threading.Barrier(2)
    outcomes = []

    def deliver(source):
        try:
            barrier.wait()
            outcomes.append(ingest.receive(capture, operator=operator, source=source).created)
            live.match_terminal(terminal.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(s,)) for s in ("webhook", "settlement")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, True]
    assert TerminalTransaction.objects.filter(transaction_id="C1").count() == 1
    assert PaymentTransaction.objects.filter(provider_reference="C1").count() == 1
    assert TerminalTransaction.objects.get(transaction_id="C1").session == session
