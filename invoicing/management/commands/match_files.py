"""Match terminal transactions to sessions from JSON files, offline, with the live rules."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from invoicing.terminals.facts import BadFile, read_sessions, read_terminals, read_transactions
from invoicing.terminals.matching import MatchingRules, match
from invoicing.terminals.settings import configured_rules


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"“{value}” is not an amount.") from None


class Command(BaseCommand):
    help = (
        "Match terminal transactions to sessions from JSON files (shapes in docs/receipts.md) "
        "and print the result as JSON. Changes nothing in the database."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--terminals", required=True, help="JSON array of terminals.")
        parser.add_argument("--sessions", required=True, help="JSON array of sessions.")
        parser.add_argument("--transactions", required=True, help="JSON array of transactions.")
        parser.add_argument("--authorization-before", type=float, help="Minutes (window).")
        parser.add_argument("--capture-after", type=float, help="Minutes (window).")
        parser.add_argument("--clock-tolerance", type=float, help="Seconds.")
        parser.add_argument("--amount-tolerance", help="Amount, e.g. 0.01.")
        parser.add_argument("--ambiguity-margin", type=float, help="Seconds.")

    def handle(self, *args, **options):
        rules = configured_rules()
        overrides = {}
        if options["authorization_before"] is not None:
            overrides["authorization_before"] = timedelta(minutes=options["authorization_before"])
        if options["capture_after"] is not None:
            overrides["capture_after"] = timedelta(minutes=options["capture_after"])
        if options["clock_tolerance"] is not None:
            overrides["clock_tolerance"] = timedelta(seconds=options["clock_tolerance"])
        if options["amount_tolerance"] is not None:
            overrides["amount_tolerance"] = _decimal(options["amount_tolerance"])
        if options["ambiguity_margin"] is not None:
            overrides["ambiguity_margin"] = timedelta(seconds=options["ambiguity_margin"])
        rules = MatchingRules(**{**rules.__dict__, **overrides})
        try:
            terminals = read_terminals(options["terminals"])
            sessions = read_sessions(options["sessions"])
            transactions = read_transactions(options["transactions"])
        except BadFile as exc:
            raise CommandError(str(exc)) from None
        result = match(
            terminals=terminals, sessions=sessions, transactions=transactions, rules=rules
        )
        self.stdout.write(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
