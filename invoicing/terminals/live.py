"""Matching the stored terminal transactions to the stored sessions with the same rules as
`match_files`; decisions are kept with their explanation, and the receipt side hears of them."""

from __future__ import annotations

import statistics
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from invoicing.signals import terminal_payment_matched
from invoicing.terminals.matching import (
    CAPTURE,
    MatchingRules,
    SessionFacts,
    TerminalFacts,
    TransactionFacts,
    match,
)
from invoicing.terminals.models import MatchState, Terminal, TerminalTransaction
from invoicing.terminals.settings import configured_rules
from sessions.models import ChargingSession

# Confirmed matches a terminal's clock offset is learned from (the most recent ones).
OFFSET_SAMPLE = 50
# A session this much older than the open payments is no longer a candidate.
HORIZON = timedelta(days=2)


def terminal_facts(terminal: Terminal) -> TerminalFacts:
    return TerminalFacts(
        terminal_id=terminal.terminal_id,
        evse_ids=tuple(terminal.evses.values_list("evse_id", flat=True)),
        time_zone=terminal.time_zone,
        clock_offset=timedelta(seconds=terminal.clock_offset_seconds),
    )


def transaction_facts(row: TerminalTransaction) -> TransactionFacts:
    return TransactionFacts(
        id=row.transaction_id,
        terminal_id=row.terminal.terminal_id,
        kind=row.kind,
        amount=row.entry.amount,
        currency=row.entry.currency,
        at=row.terminal_time,
        authorization_id=row.authorization.transaction_id if row.authorization_id else None,
        card_last4=row.card_last4,
        reference=row.payment_reference or None,
    )


def session_facts(session: ChargingSession) -> SessionFacts:
    return SessionFacts(
        id=str(session.pk),
        evse_id=session.evse.evse_id,
        start=session.started_at,
        end=session.ended_at,
        gross=session.total_gross,
        currency=session.currency,
        # The CPMS passes its session id through the terminal (OCPP 2.1 ad-hoc payment).
        payment_reference=session.source_id,
        label=session.source_id,
    )


def card_payment(capture: TerminalTransaction) -> dict:
    """The card facts a receipt prints, as JSON-safe strings."""
    return {
        "brand": capture.card_brand,
        "last4": capture.card_last4,
        "authorization_code": capture.authorization_code,
        "terminal_id": capture.terminal.terminal_id,
        "at": capture.terminal_time.isoformat(),
        "amount": str(capture.entry.amount),
        "currency": capture.entry.currency,
    }


def announce_match(capture: TerminalTransaction) -> None:
    terminal_payment_matched.send(
        sender=TerminalTransaction,
        session_id=capture.session_id,
        transaction_id=capture.entry_id,
        card_payment=card_payment(capture),
    )


def _open_rows(terminal: Terminal) -> list[TerminalTransaction]:
    """The terminal's payments still to decide, each with its whole authorization group."""
    open_captures = TerminalTransaction.objects.filter(terminal=terminal, kind=CAPTURE).filter(
        Q(match_state=MatchState.UNMATCHED)
        | Q(match_state=MatchState.REVIEW, matched_by=None, authorization__isnull=False)
    )
    groups = set(open_captures.values_list("authorization_id", flat=True)) - {None}
    groups |= set(open_captures.filter(authorization=None).values_list("pk", flat=True))
    rows = TerminalTransaction.objects.filter(
        Q(pk__in=groups) | Q(authorization_id__in=groups)
    ).select_related("terminal", "entry", "authorization")
    return list(rows)


def match_terminal(terminal_pk: int, *, rules: MatchingRules | None = None) -> dict:
    """Match a terminal's open payments; returns how many were matched and sent to review."""
    rules = rules or configured_rules()
    with transaction.atomic():
        terminal = Terminal.objects.select_for_update().get(pk=terminal_pk)
        rows = _open_rows(terminal)
        if not rows:
            return {"matched": 0, "review": 0}
        by_id = {row.transaction_id: row for row in rows}
        times = [row.terminal_time for row in rows]
        sessions = (
            ChargingSession.objects.filter(
                evse__terminals=terminal,
                ended_at__gte=min(times) - HORIZON,
                ended_at__lte=max(times) + HORIZON,
                total_gross__isnull=False,
                terminal_payment__isnull=True,
            )
            .select_related("evse")
            .select_for_update(of=("self",))
        )
        sessions = {str(s.pk): s for s in sessions}
        result = match(
            terminals=[terminal_facts(terminal)],
            sessions=[session_facts(s) for s in sessions.values()],
            transactions=[transaction_facts(row) for row in rows],
            rules=rules,
        )
        now = timezone.now()
        for found in result.matched:
            capture = by_id[found.transaction]
            capture.session = sessions[found.session]
            capture.match_state = MatchState.MATCHED
            capture.match_explanation = found.reason
            capture.review_candidates = []
            capture.matched_at = now
            capture.save()
            TerminalTransaction.objects.filter(
                transaction_id__in=[m for m in found.members if m != found.transaction]
            ).update(match_state=MatchState.MATCHED, match_explanation=f"with {found.transaction}")
            announce_match(capture)
        for review in result.review:
            capture = by_id[review.transaction]
            capture.match_state = MatchState.REVIEW
            capture.match_explanation = review.reason
            capture.review_candidates = [int(pk) for pk in review.candidates]
            capture.save(update_fields=["match_state", "match_explanation", "review_candidates"])
        if result.matched:
            learn_clock_offset(terminal)
        return {"matched": len(result.matched), "review": len(result.review)}


def learn_clock_offset(terminal: Terminal) -> None:
    """The terminal's clock offset: the median lag of its recent matched captures behind the
    session end (a capture follows the end within seconds, so a steady lag is the clock)."""
    lags = [
        (at - ended).total_seconds()
        for at, ended in TerminalTransaction.objects.filter(
            terminal=terminal, kind=CAPTURE, session__isnull=False
        )
        .order_by("-terminal_time")
        .values_list("terminal_time", "session__ended_at")[:OFFSET_SAMPLE]
        if ended is not None and abs(at - ended) < timedelta(minutes=30)
    ]
    if lags:
        terminal.clock_offset_seconds = round(statistics.median(lags))
        terminal.save(update_fields=["clock_offset_seconds"])


def terminals_for_sessions(sessions) -> list[int]:
    """The terminals serving the EVSEs of newly ended sessions: their payments may now match."""
    evse_ids = {s.evse_id for s in sessions if s.ended_at is not None}
    return sorted(set(Terminal.objects.filter(evses__in=evse_ids).values_list("pk", flat=True)))


def terminals_with_open_payments() -> list[int]:
    """The terminals the periodic sweep revisits."""
    return sorted(
        set(
            TerminalTransaction.objects.filter(
                kind=CAPTURE, match_state=MatchState.UNMATCHED
            ).values_list("terminal_id", flat=True)
        )
    )


def unpaid_sessions(terminal: Terminal, *, days: int = 7):
    """Ended sessions on the terminal's EVSEs in the last days that no payment matched yet,
    oldest first: they should have one (or the driver paid some other way)."""
    return (
        ChargingSession.objects.filter(
            evse__terminals=terminal,
            ended_at__gte=timezone.now() - timedelta(days=days),
            terminal_payment__isnull=True,
        )
        .select_related("evse")
        .order_by("ended_at")
    )
