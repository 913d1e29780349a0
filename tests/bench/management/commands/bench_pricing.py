"""Measure how many sessions per second the pricing engine prices on one core."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from tests.bench.fixtures import TARIFF_MIX, build_sessions, price_all
from tests.bench.report import verdict

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
            f"Built {count:,} sessions over {len(TARIFF_MIX)} tariffs in {built:.2f} s."
        )

        total = Decimal(0)
        started = time.perf_counter()
        with tqdm(total=count, unit="session", file=sys.stderr, mininterval=0.2) as bar:
            for done, priced in enumerate(price_all(sessions), start=1):
                total += priced.totals.total_cost.excl_vat
                if done % PROGRESS_STEP == 0 or done == count:
                    bar.update(done - bar.n)
        elapsed = time.perf_counter() - started

        rate = count / elapsed if elapsed > 0 else float("inf")
        self.stdout.write(
            f"Priced {count:,} sessions in {elapsed:.2f} s on one core: {rate:,.0f} sessions/s "
            f"(sum of totals {total.quantize(Decimal('0.01'))} EUR excl. VAT)."
        )
        self.stdout.write(
            verdict(
                self.style,
                within=rate >= TARGET_PER_SECOND,
                met=f"Meets the {TARGET_PER_SECOND:,}/s target.",
                missed=f"Below the {TARGET_PER_SECOND:,}/s target.",
            )
        )
