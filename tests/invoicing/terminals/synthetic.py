"""A synthetic day of terminals, sessions and transactions with the known true pairs: clock skew
per terminal, rounding off by a cent, pay stations serving four EVSEs with overlapping sessions,
reversals, refunds, sessions without payment and payments without session."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from invoicing.terminals.matching import SessionFacts, TerminalFacts, TransactionFacts

CENT = Decimal("0.01")


@dataclass
class SyntheticSet:
    terminals: list[TerminalFacts] = field(default_factory=list)
    sessions: list[SessionFacts] = field(default_factory=list)
    transactions: list[TransactionFacts] = field(default_factory=list)
    truth: dict[str, str] = field(default_factory=dict)  # capture id -> session id


def generate(*, sessions: int, seed: int = 20, skew_seconds: int = 120) -> SyntheticSet:
    """About `sessions` sessions, most paid at their terminal; the truth says who paid what."""
    rng = random.Random(seed)
    out = SyntheticSet()
    day = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
    per_terminal = 24
    terminal_count = max(1, sessions // per_terminal)
    number = 0
    for t in range(terminal_count):
        pay_station = t % 2 == 1
        evse_ids = tuple(f"DE*SYN*E{t:06d}*{e + 1}" for e in range(4 if pay_station else 1))
        skew = timedelta(seconds=rng.randint(-skew_seconds, skew_seconds))
        terminal_id = f"T{t:06d}"
        out.terminals.append(
            TerminalFacts(terminal_id=terminal_id, evse_ids=evse_ids, time_zone="Europe/Berlin")
        )
        clocks = {e: day + timedelta(minutes=rng.randint(0, 60)) for e in evse_ids}
        for _ in range(per_terminal):
            evse_id = rng.choice(evse_ids)
            start = clocks[evse_id] + timedelta(minutes=rng.randint(3, 60))
            end = start + timedelta(minutes=rng.randint(8, 90), seconds=rng.randint(0, 59))
            clocks[evse_id] = end
            gross = Decimal(rng.randint(300, 6000)) * CENT
            number += 1
            session_id = f"S-{number}"
            out.sessions.append(
                SessionFacts(
                    id=session_id,
                    evse_id=evse_id,
                    start=start,
                    end=end,
                    gross=gross,
                    currency="EUR",
                )
            )
            roll = rng.random()
            if roll < 0.04:
                continue  # a session nobody paid (free vend, terminal offline)
            auth_id = f"A-{number}"
            auth_amount = max(Decimal(50), gross + 10).quantize(Decimal(1))
            auth_at = start - timedelta(seconds=rng.randint(10, 240)) + skew
            out.transactions.append(
                TransactionFacts(
                    id=auth_id,
                    terminal_id=terminal_id,
                    kind="authorization",
                    amount=auth_amount,
                    currency="EUR",
                    at=auth_at,
                )
            )
            captured = gross + rng.choice((-CENT, 0, 0, 0, CENT))
            capture_id = f"C-{number}"
            capture_at = end + timedelta(seconds=rng.randint(5, 120)) + skew
            out.transactions.append(
                TransactionFacts(
                    id=capture_id,
                    terminal_id=terminal_id,
                    kind="capture",
                    amount=captured,
                    currency="EUR",
                    at=capture_at,
                    authorization_id=auth_id,
                    card_last4=f"{rng.randint(0, 9999):04d}",
                )
            )
            out.truth[capture_id] = session_id
            if roll > 0.97:
                out.transactions.append(
                    TransactionFacts(
                        id=f"R-{number}",
                        terminal_id=terminal_id,
                        kind="refund",
                        amount=min(captured, Decimal(5)),
                        currency="EUR",
                        at=capture_at + timedelta(hours=2),
                        authorization_id=auth_id,
                    )
                )
        # A failed start: authorized, then released without a session.
        failed_at = day + timedelta(hours=rng.randint(1, 12)) + skew
        out.transactions += [
            TransactionFacts(
                id=f"AF-{t}",
                terminal_id=terminal_id,
                kind="authorization",
                amount=Decimal(50),
                currency="EUR",
                at=failed_at,
            ),
            TransactionFacts(
                id=f"V-{t}",
                terminal_id=terminal_id,
                kind="reversal",
                amount=Decimal(50),
                currency="EUR",
                at=failed_at + timedelta(minutes=2),
                authorization_id=f"AF-{t}",
            ),
        ]
    return out


def score(result, truth: dict[str, str]) -> dict:
    """Correct, wrong and missing automatic matches, and the pairs left for review."""
    correct = sum(1 for m in result.matched if truth.get(m.transaction) == m.session)
    wrong = len(result.matched) - correct
    in_review = sum(1 for r in result.review if r.transaction in truth)
    return {
        "pairs": len(truth),
        "correct": correct,
        "wrong": wrong,
        "review": len(result.review),
        "true_pairs_in_review": in_review,
        "correct_share": correct / (len(truth) - in_review) if len(truth) > in_review else 1.0,
    }
