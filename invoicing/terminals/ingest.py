"""Taking in terminal transactions (API, vendor webhook, settlement file): each is checked
whole before anything is stored, recorded once per transaction id (the same facts delivered
twice change nothing; different facts under a known id are refused) and kept in the ledger."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Sum

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from cpo_portal.kernel.money import round_money
from cpo_portal.kernel.tenancy import Operator
from invoicing.payments import ledger
from invoicing.payments.models import TransactionStatus
from invoicing.signals import terminal_transactions_received
from invoicing.terminals.matching import AUTHORIZATION, CAPTURE, KINDS, REFUND
from invoicing.terminals.models import (
    TERMINAL_PROVIDER,
    MatchState,
    Terminal,
    TerminalTransaction,
)

REQUIRED = ("id", "terminal_id", "kind", "amount", "currency", "at")
# No card payment at a charger comes near this; larger is a typo or an attack.
MAX_AMOUNT = Decimal(1_000_000)


@dataclass(frozen=True)
class Received:
    transaction: TerminalTransaction
    created: bool


def _parse(data: dict) -> dict:
    """The transaction's fields, or InvalidInput naming every bad field at once."""
    if not isinstance(data, dict):
        raise InvalidInput("A transaction must be a JSON object.")
    errors: dict[str, list[str]] = {}
    for name in REQUIRED:
        if data.get(name) in (None, ""):
            errors[name] = ["This field is required."]
    kind = data.get("kind")
    if kind and kind not in KINDS:
        errors["kind"] = [f"Must be one of {', '.join(KINDS)}."]
    amount = None
    if data.get("amount") not in (None, ""):
        if isinstance(data["amount"], float):
            errors["amount"] = ['Send the amount as a decimal string, e.g. "18.42".']
        else:
            try:
                amount = Decimal(str(data["amount"]))
                if not amount.is_finite() or amount <= 0:
                    errors["amount"] = ["Must be more than zero."]
                elif amount >= MAX_AMOUNT:
                    errors["amount"] = [f"Must be less than {MAX_AMOUNT}."]
            except InvalidOperation:
                errors["amount"] = ["Not an amount."]
    currency = str(data.get("currency") or "").upper()
    if currency and (len(currency) != 3 or not currency.isalpha()):
        errors["currency"] = ["Must be an ISO 4217 code, e.g. EUR."]
    at = None
    if data.get("at"):
        try:
            at = datetime.fromisoformat(str(data["at"]))
            if at.tzinfo is None:
                errors["at"] = ["Give the time with its UTC offset."]
        except ValueError:
            errors["at"] = ["Not an ISO 8601 time."]
    last4 = str(data.get("card_last4") or "")
    if last4 and (len(last4) != 4 or not last4.isdigit()):
        errors["card_last4"] = ["Must be the card's last 4 digits."]
    if kind and kind != AUTHORIZATION and not data.get("authorization_id") and kind != CAPTURE:
        errors["authorization_id"] = [f"A {kind} names the authorization it belongs to."]
    if errors:
        raise InvalidInput(errors=errors)
    return {
        "id": str(data["id"])[:200],
        "terminal_id": str(data["terminal_id"]),
        "kind": kind,
        "amount": round_money(amount, currency),
        "currency": currency,
        "at": at,
        "authorization_id": str(data.get("authorization_id") or "") or None,
        "card_brand": str(data.get("card_brand") or "")[:32],
        "card_last4": last4,
        "authorization_code": str(data.get("authorization_code") or "")[:32],
        "reference": str(data.get("reference") or "")[:200],
    }


def _same_facts(known: TerminalTransaction, facts: dict) -> bool:
    return (
        known.terminal.terminal_id == facts["terminal_id"]
        and known.kind == facts["kind"]
        and known.entry.amount == facts["amount"]
        and known.entry.currency == facts["currency"]
        and known.terminal_time == facts["at"]
    )


def receive(
    data: dict, *, operator: Operator, source: str, recorded_by=None, payload: str = ""
) -> Received:
    """Record one terminal transaction, or return the known one when it was delivered before."""
    facts = _parse(data)
    with transaction.atomic():
        terminal = (
            Terminal.objects.select_for_update()
            .filter(operator=operator, terminal_id=facts["terminal_id"])
            .first()
        )
        if terminal is None:
            raise InvalidInput(
                f"Unknown terminal “{facts['terminal_id']}”: register it first.",
                field="terminal_id",
            )
        known = (
            TerminalTransaction.objects.select_related("terminal", "entry")
            .filter(transaction_id=facts["id"])
            .first()
        )
        if known is not None:
            if not _same_facts(known, facts):
                raise StateConflict(
                    f"Transaction {facts['id']} was already received with other facts."
                )
            return Received(known, created=False)
        authorization = None
        if facts["authorization_id"]:
            authorization = (
                TerminalTransaction.objects.select_related("entry")
                .filter(transaction_id=facts["authorization_id"], terminal=terminal)
                .first()
            )
            if authorization is None or authorization.kind != AUTHORIZATION:
                raise InvalidInput(
                    f"Authorization {facts['authorization_id']} is unknown on terminal "
                    f"{terminal.terminal_id}.",
                    field="authorization_id",
                )
            if authorization.entry.currency != facts["currency"]:
                raise InvalidInput(
                    f"The authorization was in {authorization.entry.currency}, "
                    f"not {facts['currency']}.",
                    field="currency",
                )
        if facts["kind"] == REFUND:
            _check_refund_room(authorization, facts["amount"])
        try:
            with transaction.atomic():
                entry = ledger.record_transaction(
                    ledger.TransactionFacts(
                        operator=operator,
                        provider=TERMINAL_PROVIDER,
                        provider_reference=facts["id"],
                        kind=facts["kind"],
                        status=TransactionStatus.SUCCEEDED,
                        amount=facts["amount"],
                        currency=facts["currency"],
                        occurred_at=facts["at"],
                        parent=authorization.entry if authorization else None,
                        remittance_information=facts["reference"],
                        payload=payload or json.dumps(data, default=str),
                        recorded_by=recorded_by,
                    )
                )
                created = TerminalTransaction.objects.create(
                    entry=entry,
                    terminal=terminal,
                    transaction_id=facts["id"],
                    kind=facts["kind"],
                    authorization=authorization,
                    card_brand=facts["card_brand"],
                    card_last4=facts["card_last4"],
                    authorization_code=facts["authorization_code"],
                    terminal_time=facts["at"],
                    payment_reference=facts["reference"],
                    source=source,
                    **_review_without_authorization(facts),
                    **_with_matched_payment(authorization, facts),
                )
        except IntegrityError:
            raise StateConflict(f"Transaction {facts['id']} is being received already.") from None
        terminal_transactions_received.send(sender=TerminalTransaction, terminal_ids=[terminal.pk])
        return Received(created, created=True)


def _review_without_authorization(facts: dict) -> dict:
    """A capture without authorization is kept, but a person decides what it paid."""
    if facts["kind"] == CAPTURE and not facts["authorization_id"]:
        return {
            "match_state": MatchState.REVIEW,
            "match_explanation": "capture without authorization: no pre-authorized amount to "
            "check it against",
        }
    return {}


def _with_matched_payment(authorization: TerminalTransaction | None, facts: dict) -> dict:
    """A refund or reversal of a payment already matched belongs to that match."""
    if authorization is None or facts["kind"] == CAPTURE:
        return {}
    if authorization.match_state in (MatchState.MATCHED, MatchState.CONFIRMED):
        return {
            "match_state": authorization.match_state,
            "match_explanation": f"with authorization {authorization.transaction_id}",
        }
    return {}


def _check_refund_room(authorization: TerminalTransaction, amount: Decimal) -> None:
    captured = authorization.followers.filter(kind=CAPTURE).aggregate(s=Sum("entry__amount"))
    refunded = authorization.followers.filter(kind=REFUND).aggregate(s=Sum("entry__amount"))
    room = (captured["s"] or 0) - (refunded["s"] or 0)
    if amount > room:
        raise InvalidInput(
            f"The refund of {amount} is more than the {room} captured and not yet refunded.",
            field="amount",
        )


def _is_authorization(row) -> bool:
    return isinstance(row, dict) and row.get("kind") == AUTHORIZATION


def receive_many(rows: list, *, operator: Operator, source: str, recorded_by=None) -> list:
    """A batch is taken whole or not at all; the errors name each bad row by its position."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("Send a non-empty JSON array of transactions.")
    seen: dict[str, int] = {}
    errors: dict[str, list[str]] = {}
    for position, row in enumerate(rows):
        ident = str(row.get("id")) if isinstance(row, dict) else None
        if ident and ident in seen:
            errors[f"{position}.id"] = [f"Transaction {ident} appears twice in the batch."]
        seen.setdefault(ident, position)
    if errors:
        raise InvalidInput(errors=errors)
    received = []
    with transaction.atomic():
        # Authorizations first, so a capture in the same batch finds its authorization.
        ordered = sorted(
            enumerate(rows),
            key=lambda pair: (
                not isinstance(pair[1], dict) or pair[1].get("kind") != AUTHORIZATION,
                pair[0],
            ),
        )
        for position, row in ordered:
            try:
                received.append(
                    (
                        position,
                        receive(row, operator=operator, source=source, recorded_by=recorded_by),
                    )
                )
            except InvalidInput as exc:
                raise InvalidInput(
                    errors={f"{position}.{name}": texts for name, texts in exc.errors.items()}
                ) from None
            except StateConflict as exc:
                raise InvalidInput(errors={f"{position}.id": [str(exc)]}) from None
    return [item for _, item in sorted(received, key=lambda pair: pair[0])]
