"""Measure terminal-payment matching: speed and memory on 100,000 payments against 100,000
sessions, and accuracy on a synthetic set with clock skew, rounding and pay stations."""

from __future__ import annotations

import resource
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoicing.terminals.matching import match
from tests.bench.report import mb, verdict
from tests.invoicing.terminals.synthetic import generate, score

TARGET_SECONDS = 30
TARGET_CORRECT = 0.99


class Command(BaseCommand):
    help = (
        "Match synthetic terminal payments to sessions (clock skew up to ±120 s per terminal, "
        "amounts a cent off, pay stations with 4 EVSEs and overlapping sessions, refunds, "
        "reversals, unpaid sessions, payments without session) and print time, peak memory, "
        f"wrong and correct matches. Targets: under {TARGET_SECONDS} s, 0 wrong, "
        f"≥ {TARGET_CORRECT:.0%} of resolvable pairs matched automatically."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sessions", type=int, default=100_000, help="Default: 100000.")
        parser.add_argument("--seed", type=int, default=20, help="Random seed (default 20).")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["sessions"]
        if count < 24:
            raise CommandError(f"--sessions must be at least 24, got {count}.")
        data = generate(sessions=count, seed=options["seed"])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        result = match(
            terminals=data.terminals, sessions=data.sessions, transactions=data.transactions
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        figures = score(result, data.truth)
        self.stdout.write(
            f"Matched {len(data.transactions):,} transactions against {len(data.sessions):,} "
            f"sessions on {len(data.terminals):,} terminals in {elapsed:.2f} s; peak memory "
            f"{mb(after)} (grew {mb(after - before)} while matching)."
        )
        self.stdout.write(
            f"True pairs {figures['pairs']:,}: {figures['correct']:,} matched correctly, "
            f"{figures['wrong']} wrongly, {figures['true_pairs_in_review']} in review "
            f"({figures['review']} review items); correct automatic "
            f"{figures['correct_share']:.2%} of the resolvable pairs; "
            f"{len(result.unmatched_sessions):,} sessions and "
            f"{len(result.unmatched_transactions):,} transactions left unmatched."
        )
        within = (
            elapsed < TARGET_SECONDS
            and figures["wrong"] == 0
            and figures["correct_share"] >= TARGET_CORRECT
        )
        self.stdout.write(
            verdict(
                self.style,
                within=within,
                met="Meets the matching targets (time, no wrong match, accuracy).",
                missed="Misses a matching target.",
            )
        )
