"""Measure how many sessions per second the pricing engine prices on one core."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tests.bench.fixtures import BENCH_TARIFFS, build_sessions, price_all

TARGET_PER_SECOND = 5_000
PROGRESS_STEP = 500


class Command(BaseCommand):
    help = (
        "Price synthetic sessions (simple kWh, day/night, idle fees with step sizes, flat fee "
        "with min/max price, power and weekday restrictions) in memory on one core and print "
        f"sessions/s. The target is at least {TARGET_PER_SECOND:,} sessions/s."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sessions", type=int, default=20_000, help="Default: 20000.")
        parser.add_argument("--seed", type=int, default=2211, help="Random seed (default 2211).")

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["sessions"]
        if count < 1:
            raise CommandError(f"--sessions must be at least 1, got {count}.")
        started = time.perf_counter()
        sessions = build_sessions(count, seed=options["seed"])
        built = time.perf_counter() - started
        self.stdout.write(
            f"Built {count:,} sessions over {len(BENCH_TARIFFS)} tariffs in {built:.2f} s."
        )

        total = Decimal(0)
        progress = _Progress(count)
        started = time.perf_counter()
        for done, priced in enumerate(price_all(sessions), start=1):
            total += priced.totals.total_cost.excl_vat
            if done % PROGRESS_STEP == 0 or done == count:
                progress.update(done)
        elapsed = time.perf_counter() - started
        progress.close()

        rate = count / elapsed if elapsed > 0 else float("inf")
        self.stdout.write(
            f"Priced {count:,} sessions in {elapsed:.2f} s on one core: {rate:,.0f} sessions/s "
            f"(sum of totals {total.quantize(Decimal('0.01'))} EUR excl. VAT)."
        )
        if rate >= TARGET_PER_SECOND:
            self.stdout.write(self.style.SUCCESS(f"Meets the {TARGET_PER_SECOND:,}/s target."))
        else:
            self.stdout.write(self.style.WARNING(f"Below the {TARGET_PER_SECOND:,}/s target."))


class _Progress:
    """A progress bar on stderr: tqdm when installed, otherwise a plain counter."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.shown = 0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="session", file=sys.stderr, mininterval=0.2)

    def update(self, done: int) -> None:
        """Advance to `done` sessions priced."""
        if self.bar is not None:
            self.bar.update(done - self.shown)
        else:
            sys.stderr.write(f"\rpriced {done:,}/{self.total:,}")
            sys.stderr.flush()
        self.shown = done

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
