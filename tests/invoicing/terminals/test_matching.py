"""The matching rules on plain data, as `match_files` and the live path use them."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from invoicing.terminals.matching import (
    MatchingRules,
    SessionFacts,
    TerminalFacts,
    TransactionFacts,
    match,
)
from tests.invoicing.terminals.synthetic import generate, score

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
STATION = TerminalFacts("T1", ("DE*VOL*E0001*1", "DE*VOL*E0001*2"), "Europe/Berlin")


def session(ident, evse="DE*VOL*E0001*1", start=0, end=60, gross="18.42", reference=None):
    return SessionFacts(
        ident,
        evse,
        T0 + timedelta(minutes=start),
        T0 + timedelta(minutes=end),
        Decimal(gross),
        "EUR",
        reference,
    )


def paid(n, at_start=-1, at_end=63, amount="18.42", authorized="50", reference=None):
    auth = TransactionFacts(
        f"A{n}", "T1", "authorization", Decimal(authorized), "EUR", T0 + timedelta(minutes=at_start)
    )
    capture = TransactionFacts(
        f"C{n}",
        "T1",
        "capture",
        Decimal(amount),
        "EUR",
        T0 + timedelta(minutes=at_end, seconds=31),
        authorization_id=f"A{n}",
        reference=reference,
    )
    return [auth, capture]


def test_a_capture_matches_the_session_it_followed_and_says_why():
    result = match(terminals=[STATION], sessions=[session("S-88")], transactions=paid(1))
    assert [(m.session, m.transaction) for m in result.matched] == [("S-88", "C1")]
    assert result.matched[0].reason == (
        "capture 18.42 EUR at 14:03:31, 4 min after session S-88 on DE*VOL*E0001*1 ended, "
        "amount equal"
    )
    assert result.unmatched_sessions == [] and result.unmatched_transactions == []


def test_two_equally_good_sessions_go_to_review_never_a_guess():
    sessions = [session("S-1"), session("S-2", evse="DE*VOL*E0001*2", end=60)]
    result = match(terminals=[STATION], sessions=sessions, transactions=paid(1))
    assert result.matched == []
    assert result.review[0].transaction == "C1"
    assert set(result.review[0].candidates) == {"S-1", "S-2"}
    assert "equally well" in result.review[0].reason


def test_a_shared_payment_reference_wins_over_timing():
    sessions = [session("S-1"), session("S-2", evse="DE*VOL*E0001*2", reference="PAY-7")]
    result = match(terminals=[STATION], sessions=sessions, transactions=paid(1, reference="PAY-7"))
    assert [(m.session, m.transaction) for m in result.matched] == [("S-2", "C1")]
    assert "payment reference PAY-7" in result.matched[0].reason


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "18.44"},  # more than the rounding tolerance off
        {"authorized": "10"},  # the pre-authorization does not cover the price
        {"at_end": 45},  # captured while the session was still running
        {"at_start": -40},  # authorized long before the session started
    ],
)
def test_a_payment_that_does_not_fit_stays_unmatched(change):
    result = match(terminals=[STATION], sessions=[session("S-1")], transactions=paid(1, **change))
    assert result.matched == [] and result.review == []
    assert result.unmatched_sessions == ["S-1"]
    assert result.unmatched_transactions == ["A1", "C1"]


def test_a_known_clock_offset_and_wider_windows_are_honoured():
    late_clock = paid(1, at_start=9, at_end=73)  # terminal clock 10 min ahead
    assert (
        match(terminals=[STATION], sessions=[session("S-1")], transactions=late_clock).review == []
    )
    ahead = TerminalFacts("T1", STATION.evse_ids, clock_offset=timedelta(minutes=10))
    result = match(terminals=[ahead], sessions=[session("S-1")], transactions=late_clock)
    assert [m.session for m in result.matched] == ["S-1"]
    rules = MatchingRules(clock_tolerance=timedelta(minutes=11))
    result = match(
        terminals=[STATION], sessions=[session("S-1")], transactions=late_clock, rules=rules
    )
    assert [m.session for m in result.matched] == ["S-1"]


def test_refunds_and_reversals_stay_with_their_authorization():
    refund = TransactionFacts(
        "R1", "T1", "refund", Decimal("5"), "EUR", T0 + timedelta(hours=3), authorization_id="A1"
    )
    failed = [
        TransactionFacts("A9", "T1", "authorization", Decimal("50"), "EUR", T0),
        TransactionFacts(
            "V9",
            "T1",
            "reversal",
            Decimal("50"),
            "EUR",
            T0 + timedelta(minutes=2),
            authorization_id="A9",
        ),
    ]
    result = match(
        terminals=[STATION], sessions=[session("S-1")], transactions=[*paid(1), refund, *failed]
    )
    assert result.matched[0].members == ("A1", "C1", "R1")
    assert result.unmatched_transactions == ["A9", "V9"]


def test_a_session_is_paid_once_even_when_already_taken():
    result = match(
        terminals=[STATION], sessions=[session("S-1")], transactions=paid(1), taken_sessions=["S-1"]
    )
    assert result.matched == [] and result.unmatched_sessions == []


def test_synthetic_day_with_skew_rounding_and_pay_stations_has_no_wrong_match():
    data = generate(sessions=3000, seed=7)
    figures = score(
        match(terminals=data.terminals, sessions=data.sessions, transactions=data.transactions),
        data.truth,
    )
    assert figures["wrong"] == 0
    assert figures["correct_share"] >= 0.99
