"""Benchmark: import and match a camt.053 statement of 100,000 credits against 100,000 open
invoices (target: under 60 s, memory flat).

Memory is flat when the peak after the first chunk of credits (the open invoices are indexed by
then) grows by at most 10 % to the end of the statement. Runs in a scratch database. The
invoices are written with one INSERT … SELECT; the statement is written to a temporary file and
imported as staff would (stream-parsed, booked in chunks, matched). 98% of the transfers quote
their number exactly, 1% with a typo, 1% none (review).
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from invoicing.documents.composition import profile_for
from invoicing.payments.models import BankStatement, MatchOutcome, StatementCredit
from invoicing.payments.statements import Credit, import_statement, write_camt053
from invoicing.setup.operators import ensure_series
from tests.bench.fixtures import create_customer, create_operator
from tests.bench.report import verdict
from tests.bench.scratch import scratch_database

TARGET_S = 60.0
CREDITS = 100_000
# How much the peak may grow after the first chunk and still count as flat: the statement is
# read as a stream, so the rest of it should cost nothing that stays.
FLAT_GROWTH = 0.10

INVOICES_SQL = """
INSERT INTO invoicing_document (
    operator_id, kind, origin, status, series_id, number, display_number, customer_id,
    reason, profile_id, language, currency, issue_date, due_date, period_start, period_end,
    recipient_name, recipient_company_registration_id, recipient_vat_id, recipient_street,
    recipient_postal_code, recipient_city, recipient_country, recipient_email, delivery_country,
    session_count, total_energy_kwh, total_duration_seconds, vat_summary, total_net, total_vat,
    total_gross, amount_paid, issued_at, created_at)
SELECT %(operator)s, 'invoice', 'monthly', 'issued', %(series)s, g,
       %(prefix)s || lpad(g::text, 7, '0'), %(customer)s, '', %(profile)s, 'de', 'EUR',
       %(today)s::date, %(today)s::date + 14, %(today)s::date - 30, %(today)s::date - 1,
       'Anna Schmidt', '', '', 'Musterstraße 1', '10117', 'Berlin', 'DE', '', 'DE', 1, 10, 3600,
       '[]'::jsonb, 10 + mod(g, 9000) / 100.0, 0, 10 + mod(g, 9000) / 100.0, 0, now(), now()
FROM generate_series(1, %(count)s) AS g
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Import and match a camt.053 of 100,000 credits against 100,000 open invoices."

    def add_arguments(self, parser):
        parser.add_argument("--credits", type=int, default=CREDITS)

    def handle(self, *args, credits: int, **options):
        if credits < 100:
            raise CommandError("--credits must be at least 100.")
        if connection.vendor != "postgresql":
            raise CommandError(
                "The statement benchmark needs PostgreSQL (it writes its open invoices with "
                "generate_series); set DATABASE_URL=postgres://… ."
            )
        with scratch_database("bench_statements") as db, tempfile.TemporaryDirectory() as tmp:
            self.stdout.write(f"Scratch database {db} on {connection.vendor}.")
            self._run(credits, Path(tmp))

    def _run(self, count: int, tmp: Path) -> None:
        operator = create_operator(name="Benchmark CPO")
        today = timezone.localdate()
        with transaction.atomic():
            invoice_series = ensure_series(operator=operator)["invoice"]
            profile = profile_for(operator=operator, settings=operator.invoicing_settings)
            customer = create_customer(operator)
            with connection.cursor() as cursor:
                cursor.execute(
                    INVOICES_SQL,
                    {
                        "operator": operator.pk,
                        "series": invoice_series.pk,
                        "prefix": "BINV-",
                        "customer": customer.pk,
                        "profile": profile.pk,
                        "today": today,
                        "count": count,
                    },
                )
        self.stdout.write(f"{count:,} open invoices written.")
        rng = random.Random(19)
        path = tmp / "camt053.xml"
        with path.open("wb") as out:
            write_camt053(
                out,
                self._credits(count, rng),
                account_iban="DE89370400440532013000",
                statement_id="BENCH-1",
                booked_on=today,
            )
        size = path.stat().st_size
        self.stdout.write(f"Statement of {count:,} credits: {size / 1e6:.1f} MB.")
        before = peak_mb()
        first_chunk: list[float] = []

        def after_chunk(done: int) -> None:
            if not first_chunk:
                first_chunk.append(peak_mb())

        started = time.perf_counter()
        with path.open("rb") as source:
            statement = BankStatement(operator=operator, file_name="camt053.xml")
            statement.file.save("bench-camt053.xml", File(source))
        statement = import_statement(statement, progress=after_chunk)
        took = time.perf_counter() - started
        end = peak_mb()
        outcomes = dict(
            StatementCredit.objects.filter(statement=statement)
            .values_list("outcome")
            .annotate(n=Count("id"))
        )
        self.stdout.write(
            f"Imported and matched {statement.credits:,} credits in {took:.1f} s "
            f"({statement.credits / took:.0f}/s): {outcomes.get(MatchOutcome.MATCHED, 0):,} "
            f"matched, {outcomes.get(MatchOutcome.REVIEW, 0):,} to review."
        )
        growth = (end - first_chunk[0]) / first_chunk[0]
        self.stdout.write(
            f"Peak memory: {before:.0f} MB before the import, {first_chunk[0]:.0f} MB after the "
            f"first chunk (the {count:,} open invoices indexed), {end:.0f} MB at the end."
        )
        self.stdout.write(
            verdict(
                self.style,
                within=growth <= FLAT_GROWTH,
                met=f"Memory flat: the rest of the statement added {growth:.0%} (≤ 10 %).",
                missed=f"Memory grew: the rest of the statement added {growth:.0%} (> 10 %).",
            )
        )
        scaled = took * CREDITS / count
        self.stdout.write(
            verdict(
                self.style,
                within=scaled < TARGET_S,
                met=f"Statement target met: {scaled:.1f} s for {CREDITS:,} credits (< 60 s).",
                missed=f"Statement target missed: {scaled:.1f} s for {CREDITS:,} credits (> 60 s).",
            )
        )

    @staticmethod
    def _credits(count: int, rng: random.Random):
        for g in range(1, count + 1):
            number = f"BINV-{g:07d}"
            amount = Decimal(10) + Decimal(g % 9000) / 100
            roll = rng.random()
            if roll < 0.01:
                reference = number.replace("-", "")[:-2] + number[-1] + number[-2]  # swapped
            elif roll < 0.02:
                reference = "Ladestrom"
            else:
                reference = f"Rechnung {number}"
            yield Credit(amount.quantize(Decimal("0.01")), reference, "Anna Schmidt")
