"""Reading the plain JSON shapes of `match_files` (docs/receipts.md) into matching facts; a bad
file is refused with a sentence naming the file, the row and the field."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from invoicing.terminals.matching import KINDS, SessionFacts, TerminalFacts, TransactionFacts


class BadFile(ValueError):
    """A matching input that cannot be read, with the sentence that says why."""


def _rows(path: Path, what: str) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadFile(f"The {what} file {path} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadFile(f"The {what} file {path} is not valid JSON: {exc}.") from None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise BadFile(f"The {what} file {path} must hold a JSON array of objects.")
    return data


def _field(row: dict, name: str, where: str, *, required=True):
    value = row.get(name)
    if required and value in (None, ""):
        raise BadFile(f"{where}: “{name}” is missing.")
    return value


def _time(value, where: str, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise BadFile(f"{where}: “{name}” is not an ISO 8601 time ({value}).") from None
    if at.tzinfo is None:
        raise BadFile(f"{where}: “{name}” has no UTC offset ({value}).")
    return at


def _amount(value, where: str, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise BadFile(f"{where}: “{name}” must be a decimal string, not a number ({value}).")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise BadFile(f"{where}: “{name}” is not an amount ({value}).") from None


def read_terminals(path) -> list[TerminalFacts]:
    terminals = []
    for number, row in enumerate(_rows(path, "terminals"), start=1):
        where = f"{path}, terminal {number}"
        evse_ids = _field(row, "evse_ids", where)
        if not isinstance(evse_ids, list):
            raise BadFile(f"{where}: “evse_ids” must be a list.")
        terminals.append(
            TerminalFacts(
                terminal_id=str(_field(row, "terminal_id", where)),
                evse_ids=tuple(str(e) for e in evse_ids),
                time_zone=row.get("time_zone") or "UTC",
                clock_offset=timedelta(seconds=float(row.get("clock_offset_seconds") or 0)),
            )
        )
    return terminals


def read_sessions(path) -> list[SessionFacts]:
    sessions = []
    for number, row in enumerate(_rows(path, "sessions"), start=1):
        where = f"{path}, session {number}"
        sessions.append(
            SessionFacts(
                id=str(_field(row, "id", where)),
                evse_id=str(_field(row, "evse_id", where)),
                start=_time(_field(row, "start", where), where, "start"),
                end=_time(row.get("end"), where, "end"),
                gross=_amount(row.get("total_incl_vat"), where, "total_incl_vat"),
                currency=str(_field(row, "currency", where)),
                payment_reference=row.get("payment_reference") or None,
            )
        )
    return sessions


def read_transactions(path) -> list[TransactionFacts]:
    transactions = []
    seen = set()
    for number, row in enumerate(_rows(path, "transactions"), start=1):
        where = f"{path}, transaction {number}"
        kind = _field(row, "kind", where)
        if kind not in KINDS:
            raise BadFile(f"{where}: “kind” must be one of {', '.join(KINDS)} ({kind}).")
        ident = str(_field(row, "id", where))
        if ident in seen:
            raise BadFile(f"{where}: the id {ident} appears twice.")
        seen.add(ident)
        amount = _amount(_field(row, "amount", where), where, "amount")
        if amount <= 0:
            raise BadFile(f"{where}: “amount” must be more than zero ({amount}).")
        transactions.append(
            TransactionFacts(
                id=ident,
                terminal_id=str(_field(row, "terminal_id", where)),
                kind=kind,
                amount=amount,
                currency=str(_field(row, "currency", where)),
                at=_time(_field(row, "at", where), where, "at"),
                authorization_id=row.get("authorization_id") or None,
                card_last4=row.get("card_last4") or "",
                reference=row.get("reference") or None,
            )
        )
    return transactions
