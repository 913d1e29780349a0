"""Matching card-terminal transactions to charging sessions, on plain data: a shared payment
reference wins; otherwise a capture pays the one session on its terminal's EVSEs whose end, start
and gross price fit; two equally good candidates go to review, never a guess."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

AUTHORIZATION = "authorization"
CAPTURE = "capture"
REVERSAL = "reversal"
REFUND = "refund"
KINDS = (AUTHORIZATION, CAPTURE, REVERSAL, REFUND)


@dataclass(frozen=True)
class MatchingRules:
    """The operator's windows and tolerances (docs/receipts.md, "Tuning")."""

    # An authorization may come this long before the session starts.
    authorization_before: timedelta = timedelta(minutes=15)
    # A capture may come this long after the session ends.
    capture_after: timedelta = timedelta(minutes=30)
    # How far a terminal's clock may be off beyond its learned offset.
    clock_tolerance: timedelta = timedelta(seconds=150)
    # How far a captured amount may differ from the session's gross price (rounding).
    amount_tolerance: Decimal = Decimal("0.01")
    # Two candidates whose timing differs by less than this are equally good.
    ambiguity_margin: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class TerminalFacts:
    terminal_id: str
    evse_ids: tuple[str, ...]
    time_zone: str = "UTC"
    # How far the terminal's clock runs ahead of true time (learned from confirmed matches).
    clock_offset: timedelta = timedelta(0)


@dataclass(frozen=True)
class SessionFacts:
    id: str
    evse_id: str
    start: datetime
    end: datetime | None
    gross: Decimal | None
    currency: str
    payment_reference: str | None = None
    # What explanations call the session (its CPMS id); the id when empty.
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class TransactionFacts:
    id: str
    terminal_id: str
    kind: str
    amount: Decimal
    currency: str
    at: datetime
    authorization_id: str | None = None
    card_last4: str = ""
    reference: str | None = None


@dataclass
class Payment:
    """One authorization with its captures, reversals and refunds: they stay together."""

    key: str
    authorization: TransactionFacts | None = None
    captures: list[TransactionFacts] = field(default_factory=list)
    others: list[TransactionFacts] = field(default_factory=list)

    @property
    def members(self) -> list[TransactionFacts]:
        head = [self.authorization] if self.authorization else []
        return head + self.captures + self.others

    @property
    def capture(self) -> TransactionFacts | None:
        """The capture that names the payment (the last one when captured in parts)."""
        return max(self.captures, key=lambda t: (t.at, t.id)) if self.captures else None

    @property
    def captured(self) -> Decimal:
        return sum((t.amount for t in self.captures), Decimal(0))

    @property
    def reference(self) -> str | None:
        return next((t.reference for t in self.members if t.reference), None)


@dataclass(frozen=True)
class Match:
    session: str
    transaction: str
    reason: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Review:
    transaction: str
    candidates: tuple[str, ...]
    reason: str


@dataclass
class MatchResult:
    matched: list[Match] = field(default_factory=list)
    review: list[Review] = field(default_factory=list)
    unmatched_sessions: list[str] = field(default_factory=list)
    unmatched_transactions: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "matched": [
                {"session": m.session, "transaction": m.transaction, "reason": m.reason}
                for m in self.matched
            ],
            "review": [
                {"transaction": r.transaction, "candidates": list(r.candidates), "reason": r.reason}
                for r in self.review
            ],
            "unmatched_sessions": self.unmatched_sessions,
            "unmatched_transactions": self.unmatched_transactions,
        }


def group_payments(transactions: Iterable[TransactionFacts]) -> tuple[list[Payment], list[str]]:
    """Payments keyed by their authorization; transactions whose authorization is unknown come
    back as problems (the capture without authorization of the issue)."""
    payments: dict[str, Payment] = {}
    followers = []
    for t in transactions:
        if t.kind == AUTHORIZATION or not t.authorization_id:
            payment = payments.setdefault(t.id, Payment(key=t.id))
            if t.kind == AUTHORIZATION:
                payment.authorization = t
            elif t.kind == CAPTURE:
                payment.captures.append(t)
            else:
                payment.others.append(t)
        else:
            followers.append(t)
    orphans = []
    for t in followers:
        payment = payments.get(t.authorization_id)
        if payment is None:
            orphans.append(t.id)
        elif t.kind == CAPTURE:
            payment.captures.append(t)
        else:
            payment.others.append(t)
    return list(payments.values()), orphans


class _SessionIndex:
    """Ended, priced sessions per EVSE sorted by end, for window look-ups in log time."""

    def __init__(self, sessions: Iterable[SessionFacts]):
        per_evse: dict[str, list[SessionFacts]] = defaultdict(list)
        self.by_reference: dict[str, list[SessionFacts]] = defaultdict(list)
        for s in sessions:
            if s.payment_reference:
                self.by_reference[s.payment_reference].append(s)
            if s.end is not None and s.gross is not None:
                per_evse[s.evse_id].append(s)
        self.per_evse = {}
        self.ends = {}
        for evse_id, rows in per_evse.items():
            rows.sort(key=lambda s: s.end)
            self.per_evse[evse_id] = rows
            self.ends[evse_id] = [s.end for s in rows]

    def ending_between(self, evse_id: str, earliest: datetime, latest: datetime):
        ends = self.ends.get(evse_id)
        if not ends:
            return []
        rows = self.per_evse[evse_id]
        return rows[bisect.bisect_left(ends, earliest) : bisect.bisect_right(ends, latest)]


def _minutes(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"


def _when(at: datetime, terminal: TerminalFacts) -> str:
    try:
        zone = ZoneInfo(terminal.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%H:%M:%S")


def _describe(payment: Payment, session: SessionFacts, terminal: TerminalFacts) -> str:
    capture = payment.capture
    lag = capture.at - terminal.clock_offset - session.end
    side = "after" if lag >= timedelta(0) else "before"
    difference = payment.captured - session.gross
    amount = "amount equal" if difference == 0 else f"amount {difference:+} {capture.currency} off"
    return (
        f"capture {payment.captured} {capture.currency} at {_when(capture.at, terminal)}, "
        f"{_minutes(lag)} {side} session {session.name} on {session.evse_id} ended, {amount}"
    )


def _fits(payment: Payment, session: SessionFacts, terminal: TerminalFacts, rules: MatchingRules):
    """How far off the payment's timing is from the session's, or None when it does not fit."""
    capture = payment.capture
    if session.currency != capture.currency:
        return None
    if abs(payment.captured - session.gross) > rules.amount_tolerance:
        return None
    auth = payment.authorization
    distance = abs(capture.at - terminal.clock_offset - session.end)
    if auth is not None:
        if auth.amount + rules.amount_tolerance < session.gross:
            return None
        auth_at = auth.at - terminal.clock_offset
        if not (
            session.start - rules.authorization_before - rules.clock_tolerance
            <= auth_at
            <= session.start + rules.clock_tolerance
        ):
            return None
        distance += abs(session.start - auth_at)
    return distance


def _candidates(payment, terminal, index, rules, taken):
    capture = payment.capture
    at = capture.at - terminal.clock_offset
    earliest = at - rules.capture_after - rules.clock_tolerance
    latest = at + rules.clock_tolerance
    found = []
    for evse_id in terminal.evse_ids:
        for session in index.ending_between(evse_id, earliest, latest):
            if session.id in taken:
                continue
            distance = _fits(payment, session, terminal, rules)
            if distance is not None:
                found.append((distance, session))
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    return found


def match(
    *,
    terminals: Iterable[TerminalFacts],
    sessions: Iterable[SessionFacts],
    transactions: Iterable[TransactionFacts],
    rules: MatchingRules | None = None,
    taken_sessions: Iterable[str] = (),
) -> MatchResult:
    """Match the payments to the sessions; `taken_sessions` are already paid by another one."""
    rules = rules or MatchingRules()
    terminals = {t.terminal_id: t for t in terminals}
    sessions = list(sessions)
    index = _SessionIndex(sessions)
    payments, orphans = group_payments(transactions)
    result = MatchResult()
    already_paid = set(taken_sessions)
    taken = set(already_paid)
    unmatched_payments: list[Payment] = []
    waiting: list[Payment] = []

    for payment in payments:
        capture = payment.capture
        terminal = terminals.get(capture.terminal_id) if capture else None
        if capture is None or terminal is None:
            unmatched_payments.append(payment)
            continue
        reference = payment.reference
        by_reference = [s for s in index.by_reference.get(reference, ()) if s.id not in taken]
        if reference and len(by_reference) == 1:
            session = by_reference[0]
            taken.add(session.id)
            result.matched.append(
                Match(
                    session=session.id,
                    transaction=capture.id,
                    reason=f"payment reference {reference} shared with session {session.name}",
                    members=tuple(t.id for t in payment.members),
                )
            )
            continue
        waiting.append(payment)

    # Match what is unique on both sides; each confirmed pair may make another unique.
    while waiting:
        options = {}
        claims: dict[str, list[str]] = defaultdict(list)
        for payment in waiting:
            terminal = terminals[payment.capture.terminal_id]
            found = _candidates(payment, terminal, index, rules, taken)
            close = [s for d, s in found if d - found[0][0] < rules.ambiguity_margin]
            options[payment.key] = (found, close)
            for session in close:
                claims[session.id].append(payment.key)
        progressed = False
        still = []
        for payment in waiting:
            found, close = options[payment.key]
            if len(close) == 1 and len(claims[close[0].id]) == 1:
                session = close[0]
                taken.add(session.id)
                terminal = terminals[payment.capture.terminal_id]
                result.matched.append(
                    Match(
                        session=session.id,
                        transaction=payment.capture.id,
                        reason=_describe(payment, session, terminal),
                        members=tuple(t.id for t in payment.members),
                    )
                )
                progressed = True
            else:
                still.append(payment)
        waiting = still
        if not progressed:
            break

    for payment in waiting:
        found, close = options[payment.key]
        capture = payment.capture
        if not close:
            unmatched_payments.append(payment)
            continue
        if len(close) > 1:
            reason = (
                f"capture {payment.captured} {capture.currency} fits {len(close)} sessions "
                f"equally well: " + ", ".join(f"{s.name} on {s.evse_id}" for s in close)
            )
        else:
            rivals = [k for k in claims[close[0].id] if k != payment.key]
            reason = (
                f"capture {payment.captured} {capture.currency} fits session {close[0].name}, "
                f"which {len(rivals)} other payment(s) fit equally well"
            )
        result.review.append(
            Review(transaction=capture.id, candidates=tuple(s.id for s in close), reason=reason)
        )

    paid = {m.session for m in result.matched}
    result.unmatched_sessions = sorted(
        s.id for s in sessions if s.id not in paid and s.id not in already_paid
    )
    unmatched = [t.id for p in unmatched_payments for t in p.members] + orphans
    result.unmatched_transactions = sorted(unmatched)
    return result


def unmatched_reason(payment: Payment, terminals: dict[str, TerminalFacts]) -> str:
    """Why a payment found no session, in a support agent's words."""
    capture = payment.capture
    if capture is None:
        auth = payment.authorization
        if any(t.kind == REVERSAL for t in payment.others):
            return "authorization released without capture (e.g. a failed start)"
        if auth is not None:
            return "authorization not captured yet"
        return "no capture"
    if capture.terminal_id not in terminals:
        return f"unknown terminal {capture.terminal_id}"
    return f"no session on the terminal's EVSEs fits capture {payment.captured} {capture.currency}"
