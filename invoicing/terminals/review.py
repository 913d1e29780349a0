"""Staff decisions on terminal payments: confirm a match, move it to another session, or undo
it; each records who, when and why, and the receipt side hears of it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.signals import terminal_match_undone
from invoicing.terminals.live import announce_match, learn_clock_offset
from invoicing.terminals.matching import CAPTURE
from invoicing.terminals.models import MatchState, TerminalTransaction
from sessions.models import ChargingSession


def _locked_capture(capture_pk: int) -> TerminalTransaction:
    capture = (
        TerminalTransaction.objects.select_for_update(of=("self",))
        .select_related("terminal", "entry")
        .get(pk=capture_pk)
    )
    if capture.kind != CAPTURE:
        raise StateConflict("Only a capture pays a session.")
    return capture


def _require_why(why: str) -> str:
    if not why.strip():
        raise InvalidInput("Say why, for the next person reading it.", field="why")
    return why.strip()


def _record(capture, *, state, user, why, explanation):
    capture.match_state = state
    capture.matched_by = user
    capture.matched_at = timezone.now()
    capture.match_note = why
    capture.match_explanation = explanation
    capture.save()
    TerminalTransaction.objects.filter(authorization_id=capture.authorization_id).exclude(
        pk=capture.pk
    ).exclude(kind=CAPTURE).update(match_state=state)
    if capture.authorization_id:
        TerminalTransaction.objects.filter(pk=capture.authorization_id).update(match_state=state)


def confirm(*, capture_pk: int, session_pk: int | None = None, user, why: str = "") -> None:
    """Staff confirm the match (or, in review, choose the session): it is final."""
    with transaction.atomic():
        capture = _locked_capture(capture_pk)
        if session_pk is None:
            if capture.session_id is None:
                raise InvalidInput("Choose the session this payment was for.", field="session")
            _record(
                capture,
                state=MatchState.CONFIRMED,
                user=user,
                why=why or "confirmed",
                explanation=capture.match_explanation,
            )
            return
        _assign(capture, session_pk, user=user, why=why or "chosen in review")


def reassign(*, capture_pk: int, session_pk: int, user, why: str) -> None:
    """Move a payment to another session: the old one loses its receipt, the new one gets one."""
    with transaction.atomic():
        _assign(_locked_capture(capture_pk), session_pk, user=user, why=_require_why(why))


def _assign(capture: TerminalTransaction, session_pk: int, *, user, why: str) -> None:
    session = ChargingSession.objects.select_for_update().filter(pk=session_pk).first()
    if session is None:
        raise InvalidInput("There is no such session.", field="session")
    taken = TerminalTransaction.objects.filter(session=session).exclude(pk=capture.pk).first()
    if taken is not None:
        raise StateConflict(
            f"Session {session.source_id} is already paid by {taken.transaction_id}; "
            "undo that first."
        )
    if session.currency != capture.entry.currency:
        raise InvalidInput(
            f"The session is priced in {session.currency}, the payment in "
            f"{capture.entry.currency}.",
            field="session",
        )
    if capture.session_id is not None and capture.session_id != session.pk:
        terminal_match_undone.send(
            sender=TerminalTransaction,
            session_id=capture.session_id,
            transaction_id=capture.entry_id,
        )
    capture.session = session
    _record(
        capture,
        state=MatchState.CONFIRMED,
        user=user,
        why=why,
        explanation=f"assigned by staff to session {session.source_id}",
    )
    announce_match(capture)
    learn_clock_offset(capture.terminal)


def undo(*, capture_pk: int, user, why: str) -> None:
    """Undo a match: the session is unpaid again and the payment waits in review."""
    with transaction.atomic():
        capture = _locked_capture(capture_pk)
        if capture.session_id is None:
            raise StateConflict("This payment is not matched to a session.")
        session_id = capture.session_id
        capture.session = None
        _record(
            capture,
            state=MatchState.REVIEW,
            user=user,
            why=_require_why(why),
            explanation="match undone by staff",
        )
        terminal_match_undone.send(
            sender=TerminalTransaction, session_id=session_id, transaction_id=capture.entry_id
        )
