"""Benchmark: a monthly billing run fanned out to Celery workers on PostgreSQL, against COPY."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql
from stdnum.iso7064 import mod_11_10
from tqdm import tqdm

from cpo_portal.celery import app
from cpo_portal.kernel.periods import period_bounds, previous_period, today_for
from customers.models import Customer
from invoicing.billing.runs import pending_chunk_ids, plan_billing_run, queue_billing_run
from invoicing.models import (
    BilledSession,
    BillingRun,
    Document,
    DocumentLine,
    InvoicingSettings,
    Operator,
)
from invoicing.tasks import bill_chunk
from tests.bench.fixtures import (
    AC_PRICES,
    DC_PRICES,
    SqlCatalogue,
    create_operator,
    sql_catalogue,
)
from tests.bench.processes import (
    CopyBaseline,
    children,
    copy_baseline,
    cpu_seconds,
    peak_memory_kb,
    reset_peak_memory,
)
from tests.bench.profiling import Profile, sampled
from tests.bench.report import mb, table, verdict
from tests.bench.results import record
from tests.bench.scratch import child_env, drain_queue, manage_py, routed, scratch_database

TARGET_SECONDS = 300
TARGET_MB = 300
TARGET_SESSIONS = 1_000_000
VAT_RATE = Decimal("19.00")
DC_SHARE = 0.3
COMPANY_EVERY = 5  # every 5th customer is a company (fleet), the rest are individuals
LONGEST_SESSION_SECONDS = 6 * 3600  # sessions start early enough to end inside the month

CUSTOMER_INDEX_SQL = """
CREATE TEMP TABLE bench_customer ON COMMIT DROP AS
    SELECT (row_number() OVER (ORDER BY id) - 1)::int AS k, id
    FROM customers_customer WHERE operator_id = %(operator)s
"""

SESSION_SOURCE_SQL = """
CREATE TEMP TABLE bench_source ON COMMIT DROP AS
WITH drawn AS (
    SELECT g,
           -- Every customer gets a session; the rest are skewed towards a few heavy (fleet) users.
           CASE WHEN g <= %(customers)s THEN g - 1
                ELSE least(floor(%(customers)s * power(random(), 1.5))::int, %(customers)s - 1)
           END AS k,
           random() < %(dc_share)s AS dc,
           random() AS r_start, random() AS r_energy, random() AS r_charge,
           random() AS r_idle, random() AS r_evse
    FROM generate_series(1, %(sessions)s) AS g
), shaped AS (
    SELECT g, k, dc,
           %(period_start)s::timestamptz + make_interval(secs => floor(r_start * %(span)s))
               AS started_at,
           (CASE WHEN dc THEN 900 + floor(r_charge * 2700)
                 ELSE 3600 + floor(r_charge * 14400) END)::int AS charging_seconds,
           (CASE WHEN r_idle < 0.3 THEN 0 ELSE 60 * (1 + floor(r_idle * 45)) END)::int
               AS idle_seconds,
           round((CASE WHEN dc THEN 10 + r_energy * 70 ELSE 3 + r_energy * 37 END)::numeric, 3)
               AS energy_kwh,
           CASE WHEN dc THEN (%(dc_evses)s::bigint[])[1 + floor(r_evse * %(dc_count)s)::int]
                ELSE (%(ac_evses)s::bigint[])[1 + floor(r_evse * %(ac_count)s)::int] END AS evse_id
    FROM drawn
), priced AS (
    SELECT shaped.*, c.id AS customer_id,
           CASE WHEN dc THEN %(dc_energy)s ELSE %(ac_energy)s END::numeric AS energy_price,
           CASE WHEN dc THEN %(dc_parking)s ELSE %(ac_parking)s END::numeric AS parking_price,
           CASE WHEN dc THEN %(dc_fee)s ELSE %(ac_fee)s END::numeric AS fee
    FROM shaped JOIN bench_customer AS c USING (k)
), totalled AS (
    SELECT priced.*,
           round(energy_kwh * energy_price, 2) AS energy_net,
           round((idle_seconds / 60)::numeric * parking_price, 2) AS parking_net,
           round(fee, 2) AS fee_net
    FROM priced
)
SELECT nextval(pg_get_serial_sequence('charging_chargingsession', 'id')) AS id, ordered.*,
       energy_net + parking_net + fee_net AS total_net,
       round((energy_net + parking_net + fee_net) * %(vat_rate)s / 100, 2) AS total_vat
-- Ids follow start times, as they do when sessions arrive from the CPMS as they end.
FROM (SELECT * FROM totalled ORDER BY started_at) AS ordered
"""

INSERT_SESSIONS_SQL = """
INSERT INTO charging_chargingsession (
    id, operator_id, source, source_id, payload_format, customer_id, evse_id, tariff_id,
    tariff_snapshot_id, started_at, ended_at, energy_kwh, charging_seconds, idle_seconds,
    charging_periods, status, currency, total_net, total_vat, total_gross, ocpi_totals,
    priced_at, raw_payload, received_at, issuing_due)
SELECT id, %(operator)s, 'bench-billing', 'S' || lpad(g::text, 9, '0'), 'native', customer_id,
       evse_id,
       CASE WHEN dc THEN %(dc_tariff)s ELSE %(ac_tariff)s END,
       CASE WHEN dc THEN %(dc_snapshot)s ELSE %(ac_snapshot)s END,
       started_at, started_at + make_interval(secs => charging_seconds + idle_seconds),
       energy_kwh, charging_seconds, idle_seconds, '[]'::jsonb, 'completed', 'EUR',
       total_net, total_vat, total_net + total_vat,
       jsonb_build_object('total_cost', jsonb_build_object(
           'excl_vat', total_net::text, 'incl_vat', (total_net + total_vat)::text)),
       now(),
       json_build_object('source_id', 'S' || lpad(g::text, 9, '0'), 'evse_id', evse_id,
                         'start', started_at, 'energy_kwh', energy_kwh::text,
                         'idle_minutes', idle_seconds / 60)::text,
       now(), true
FROM bench_source ORDER BY id
"""

INSERT_LINES_SQL = """
INSERT INTO charging_sessionchargeline (
    session_id, position, component, quantity, unit, unit_price, net, vat_category, vat_rate,
    vat, gross)
SELECT session_id, position, component, quantity, unit, unit_price, net, vat_category,
       %(vat_rate)s, round(net * %(vat_rate)s / 100, 2), net + round(net * %(vat_rate)s / 100, 2)
FROM (
    SELECT id AS session_id, 1 AS position, 'energy' AS component, energy_kwh AS quantity,
           'kWh' AS unit, energy_price AS unit_price, energy_net AS net,
           'electricity' AS vat_category
    FROM bench_source
    UNION ALL
    SELECT id, 2, 'parking_time', (idle_seconds / 60)::numeric, 'minute', parking_price,
           parking_net, 'services'
    FROM bench_source WHERE idle_seconds > 0
    UNION ALL
    SELECT id, CASE WHEN idle_seconds > 0 THEN 3 ELSE 2 END, 'connection_fee', 1, 'package',
           fee, fee_net, 'services'
    FROM bench_source WHERE fee > 0
) AS lines
ORDER BY session_id, position
"""

CUSTOMER_COLUMNS = (
    "operator_id",
    "kind",
    "name",
    "company_name",
    "company_registration_id",
    "vat_id",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
    "language",
    "requires_invoice",
    "billing_mode",
    "created_at",
    "updated_at",
)
FILLED_TABLES = ("customers_customer", "charging_chargingsession", "charging_sessionchargeline")


@dataclass
class Size:
    customers: int
    sessions: int


@dataclass
class Result:
    """What one billing run of one size measured."""

    size: Size
    workers: int
    period: date
    generated_seconds: float = 0.0
    charge_lines: int = 0
    plan_seconds: float = 0.0
    run_seconds: float = 0.0
    chunks: int = 0
    documents: int = 0
    document_lines: int = 0
    sessions_billed: int = 0
    expected_documents: int = 0
    status: str = ""
    worker_peaks_kb: dict[str, int] = field(default_factory=dict)
    bench_peak_kb: int = 0
    copy: CopyBaseline = field(default_factory=lambda: CopyBaseline(0.0, 0.0))
    copy_links: int = 0
    errors: list[str] = field(default_factory=list)
    tasks_not_run: int = 0
    worker_cpu_seconds: float = 0.0
    profile: Profile = field(default_factory=Profile)

    @property
    def per_second(self) -> float:
        return self.sessions_billed / self.run_seconds if self.run_seconds else 0.0

    @property
    def peak_kb(self) -> int:
        return max([self.bench_peak_kb, *self.worker_peaks_kb.values()])

    @property
    def cpu_share(self) -> float:
        return (
            self.worker_cpu_seconds / (self.workers * self.run_seconds) if self.run_seconds else 0
        )

    @property
    def copy_ratio(self) -> float:
        return self.run_seconds / self.copy.seconds if self.copy.seconds else 0.0


class Command(BaseCommand):
    help = (
        "Bill a closed month for N customers with M priced sessions on PostgreSQL through Celery "
        "worker processes, in a scratch database created (and dropped) for it; report sessions "
        "billed per second, peak memory per process and the ratio to COPYing the same rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=100_000, help="Default: 100000.")
        parser.add_argument("--sessions", type=int, default=1_000_000, help="Default: 1000000.")
        parser.add_argument(
            "--workers", type=int, default=2, help="Celery prefork processes (default 2)."
        )
        parser.add_argument(
            "--scaling",
            help="Comma-separated session counts, e.g. 250000,1000000: one run per size, each in "
            "a fresh database, customers scaled alike; prints the time per session of each.",
        )
        parser.add_argument(
            "--chunk-customers", type=int, help="Plan chunks of at most this many customers."
        )
        parser.add_argument(
            "--chunk-sessions", type=int, help="Plan chunks of at most this many sessions."
        )
        parser.add_argument(
            "--database-name",
            help="The scratch database (default: the configured name + _bench_billing).",
        )
        parser.add_argument(
            "--timeout", type=int, default=1800, help="Give up a run after this many seconds."
        )
        parser.add_argument(
            "--keep", action="store_true", help="Keep the scratch database (last size) afterwards."
        )
        # Internal: the worker subprocess is this command, so the routes below apply in it too.
        parser.add_argument("--serve-worker", metavar="QUEUE", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["serve_worker"]:
            return _serve_worker(options["serve_worker"], options["workers"])
        customers, sessions, workers = options["customers"], options["sessions"], options["workers"]
        if customers < 1 or sessions < 1 or workers < 1:
            raise CommandError("--customers, --sessions and --workers must be positive.")
        sizes = [Size(customers, sessions)]
        if options["scaling"]:
            sizes = [_scaled(customers, sessions, text) for text in options["scaling"].split(",")]
        self._check_setup()

        results = []
        for number, size in enumerate(sizes, start=1):
            keep = options["keep"] and number == len(sizes)
            with scratch_database("bench_billing", name=options["database_name"], keep=keep) as db:
                result = self._bench(size, options)
            results.append(result)
            self.stdout.write(self._report(result))
            record(
                "billing",
                customers=size.customers,
                sessions=result.sessions_billed,
                documents=result.documents,
                lines=result.document_lines,
                seconds=result.run_seconds,
                copy_seconds=result.copy.seconds,
                copy_fk_seconds=result.copy.with_foreign_keys,
                workers=result.workers,
                peaks_kb={"bench": result.bench_peak_kb, **result.worker_peaks_kb},
                profile=result.profile.as_dict(),
            )
            if keep:
                self.stdout.write(f"The data stays in the database “{db}” (--keep).")
        if len(results) > 1:
            self.stdout.write(self._scaling_report(results))
        for r in results:
            if r.sessions_billed != r.size.sessions or r.documents != r.expected_documents:
                raise CommandError(
                    f"Only {r.sessions_billed:,} of {r.size.sessions:,} sessions were billed on "
                    f"{r.documents:,} of {r.expected_documents:,} documents (run {r.status}). "
                    + " ".join(r.errors)
                )

    def _check_setup(self) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                "The billing benchmark needs PostgreSQL (COPY, the scratch database, the issued-"
                "document triggers); set DATABASE_URL=postgres://… ."
            )
        broker = settings.CELERY_BROKER_URL or ""
        if settings.CELERY_TASK_ALWAYS_EAGER or not broker or broker.startswith("memory://"):
            raise CommandError(
                "The chunks go to Celery worker processes: configure a broker they can share "
                "(CELERY_BROKER_URL=redis://… or the filesystem:// broker), not eager tasks or "
                "memory://."
            )

    # --- one size --------------------------------------------------------------------------

    def _bench(self, size: Size, options: dict) -> Result:
        operator = create_operator(
            name="Benchmark CPO",
            issuing_schedule=InvoicingSettings.IssuingSchedule.MONTHLY,
            services_table=InvoicingSettings.ServicesTable.DETAILED,
            document_type=InvoicingSettings.DocumentType.INVOICE,
        )
        fixtures = sql_catalogue(operator)
        period = previous_period(today_for(operator))
        result = Result(size=size, workers=options["workers"], period=period)
        self.stderr.write(
            f"Generating {size.customers:,} customers and {size.sessions:,} priced sessions "
            f"ending in {period:%Y-%m}…"
        )
        started = time.perf_counter()
        result.charge_lines = _generate(operator, fixtures, size, period)
        result.generated_seconds = time.perf_counter() - started
        result.expected_documents = min(size.customers, size.sessions)

        with Worker(concurrency=options["workers"]) as w:
            self._run(operator, period, result, w, options)
        result.tasks_not_run = w.tasks_not_run
        run = BillingRun.objects.get(operator=operator, period=period)
        result.status = run.status
        result.chunks = run.chunks_total
        result.documents = Document.objects.filter(billing_run=run).count()
        result.sessions_billed = BilledSession.objects.filter(document__billing_run=run).count()
        result.document_lines = DocumentLine.objects.filter(document__billing_run=run).count()
        result.errors = list(run.errors.values_list("message", flat=True)[:3])
        result.copy, result.copy_links = _copy_baseline(run)
        return result

    def _run(
        self, operator: Operator, period: date, result: Result, worker: Worker, options: dict
    ) -> None:
        reset_peak_memory(os.getpid())
        with (
            worker.routing(),
            tqdm(desc="Billing", unit="chunk", file=sys.stderr) as bar,
            sampled(children(worker.process.pid)) as result.profile,
        ):
            started = time.perf_counter()
            if options["chunk_customers"] or options["chunk_sessions"]:
                run = _queue_with_chunk_sizes(operator, period, options)
            else:
                run = queue_billing_run(operator=operator, period=period)
            result.plan_seconds = time.perf_counter() - started
            while run.status == BillingRun.Status.RUNNING:
                time.sleep(0.1)
                run.refresh_from_db()
                worker.sample()
                _show(bar, run)
                if not worker.alive():
                    raise CommandError("The Celery worker died:\n" + worker.log_tail())
                if time.perf_counter() - started > options["timeout"]:
                    raise CommandError(
                        f"The run did not finish in {options['timeout']} s "
                        f"({run.chunks_done} of {run.chunks_total} chunks done)."
                    )
            result.run_seconds = time.perf_counter() - started
            _show(bar, run)
        worker.sample()
        result.worker_peaks_kb = worker.peaks()
        result.worker_cpu_seconds = worker.cpu_seconds()
        result.bench_peak_kb = peak_memory_kb(os.getpid())

    # --- reports ---------------------------------------------------------------------------

    def _report(self, r: Result) -> str:
        pool = [kb for name, kb in r.worker_peaks_kb.items() if name != "main"]
        memory = (
            f"worker pool processes max {mb(max(pool, default=0))}, worker main process "
            f"{mb(r.worker_peaks_kb.get('main', 0))}, bench process {mb(r.bench_peak_kb)}"
        )
        lines = [
            f"Billing run {r.period:%Y-%m} on PostgreSQL by {r.workers} Celery worker "
            f"process{'es' if r.workers > 1 else ''}: "
            f"{r.size.customers:,} customers, {r.size.sessions:,} sessions "
            f"({r.charge_lines:,} charge lines).",
            f"  Data generated in {r.generated_seconds:.1f} s (not part of the run).",
            f"  Billed {r.sessions_billed:,} of {r.size.sessions:,} sessions on {r.documents:,} "
            f"documents ({r.document_lines:,} lines, {r.chunks:,} chunks) in {r.run_seconds:.1f} s "
            f"(planning and queueing {r.plan_seconds:.1f} s): {r.per_second:,.0f} sessions/s; "
            f"run {r.status}.",
            f"  Peak memory (VmHWM): {memory}.",
            f"  CPU time of the worker pool processes: {r.worker_cpu_seconds:.0f} s "
            f"({r.cpu_share:.0%} of what {r.workers} busy processes would use; the rest is "
            "waiting: PostgreSQL, the broker, a busy CPU).",
            f"  {r.tasks_not_run:,} tasks queued by the run (PDF renders) were counted, not run.",
            f"  COPY baseline: {r.documents:,} documents + {r.document_lines:,} lines + "
            f"{r.copy_links:,} session links in {r.copy.compared(r.run_seconds, work='run')}",
            r.profile.report(),
        ]
        text = "\n".join(lines)
        if r.size.sessions < TARGET_SESSIONS and r.per_second:
            text += (
                f"\n  At this rate {TARGET_SESSIONS:,} sessions would take "
                f"{TARGET_SESSIONS / r.per_second:.0f} s."
            )
            return text
        within = r.run_seconds < TARGET_SECONDS and r.peak_kb < TARGET_MB * 1024
        return (
            text
            + "\n"
            + verdict(
                self.style,
                within=within,
                met=f"Meets the target: under {TARGET_SECONDS} s and {TARGET_MB} MB per process.",
                missed=f"Misses the target of {TARGET_SECONDS} s and {TARGET_MB} MB per process.",
            )
        )

    def _scaling_report(self, results: list[Result]) -> str:
        base_cost = results[0].run_seconds / results[0].size.sessions
        rows = []
        for r in results:
            cost = r.run_seconds / r.size.sessions
            rows.append(
                [
                    f"{r.size.sessions:,}",
                    f"{r.size.customers:,}",
                    f"{r.run_seconds:.1f} s",
                    f"{cost * 1e6:.1f} µs",
                    f"{r.per_second:,.0f}",
                    f"{cost / base_cost:.2f} x",
                ]
            )
        return "Scaling (time per session should stay flat when growth is linear):\n" + table(
            [">sessions", ">customers", ">run", ">per session", ">sessions/s", ">vs the first"],
            rows,
        )


# --- data ----------------------------------------------------------------------------------


def _generate(operator: Operator, fixtures: SqlCatalogue, size: Size, period: date) -> int:
    """Customers by COPY, sessions and charge lines by INSERT … SELECT; returns the line count."""
    start, end, _first, _last = period_bounds(period, operator.time_zone)
    params = {
        "operator": operator.pk,
        "customers": size.customers,
        "sessions": size.sessions,
        "dc_share": DC_SHARE,
        "period_start": start,
        "span": (end - start).total_seconds() - LONGEST_SESSION_SECONDS,
        "ac_evses": fixtures.ac_evses,
        "ac_count": len(fixtures.ac_evses),
        "dc_evses": fixtures.dc_evses,
        "dc_count": len(fixtures.dc_evses),
        "ac_energy": AC_PRICES[0],
        "ac_parking": AC_PRICES[1],
        "ac_fee": AC_PRICES[2],
        "dc_energy": DC_PRICES[0],
        "dc_parking": DC_PRICES[1],
        "dc_fee": DC_PRICES[2],
        "ac_tariff": fixtures.tariffs["AC"],
        "dc_tariff": fixtures.tariffs["DC"],
        "ac_snapshot": fixtures.snapshots["AC"],
        "dc_snapshot": fixtures.snapshots["DC"],
        "vat_rate": VAT_RATE,
    }
    steps = ("customers", "session draw", "sessions", "charge lines", "vacuum analyze")
    with tqdm(total=len(steps), desc="Generate", unit="step", file=sys.stderr) as bar:
        with transaction.atomic(), connection.cursor() as cursor:
            bar.set_postfix_str(steps[0])
            columns = sql.SQL(", ").join(map(sql.Identifier, CUSTOMER_COLUMNS))
            statement = sql.SQL("COPY customers_customer ({}) FROM STDIN").format(columns)
            now = timezone.now()
            with cursor.copy(statement) as copy:
                for n in range(size.customers):
                    copy.write_row(_customer_row(operator.pk, n, now))
            bar.update()
            bar.set_postfix_str(steps[1])
            cursor.execute(CUSTOMER_INDEX_SQL, params)
            # Reproducible draws: the same sizes give the same sessions.
            cursor.execute("SELECT setseed(0.2211)")
            cursor.execute(SESSION_SOURCE_SQL, params)
            bar.update()
            bar.set_postfix_str(steps[2])
            cursor.execute(INSERT_SESSIONS_SQL, params)
            bar.update()
            bar.set_postfix_str(steps[3])
            cursor.execute(INSERT_LINES_SQL, params)
            lines = cursor.rowcount
            bar.update()
        bar.set_postfix_str(steps[4])
        # A month-old table has been vacuumed and analysed; fresh rows would skew the plans.
        with connection.cursor() as cursor:
            for table in FILLED_TABLES:
                cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        bar.update()
    return lines


def _customer_row(operator_id: int, n: int, now: datetime) -> tuple:
    """A monthly customer with complete invoice details: an individual or a fleet company."""
    street, postal_code, city = f"Ladeweg {n % 200 + 1}", f"{10000 + n % 89999:05d}", "Berlin"
    language = ("", "en", "de")[n % 3]
    if n % COMPANY_EVERY == 0:
        digits = f"1{n % 10_000_000:07d}"
        return (
            operator_id,
            Customer.Kind.COMPANY,
            f"Fleet manager {n}",
            f"Fleet {n} GmbH",
            f"HRB {100000 + n}",
            f"DE{digits}{mod_11_10.calc_check_digit(digits)}",
            street,
            postal_code,
            city,
            "DE",
            f"billing{n}@fleet.example.org",
            language,
            True,
            Customer.BillingMode.MONTHLY if n % 2 else Customer.BillingMode.OPERATOR_DEFAULT,
            now,
            now,
        )
    return (
        operator_id,
        Customer.Kind.INDIVIDUAL,
        f"Driver {n}",
        "",
        "",
        "",
        street,
        postal_code,
        city,
        "DE",
        f"driver{n}@example.org",
        language,
        True,
        Customer.BillingMode.OPERATOR_DEFAULT,
        now,
        now,
    )


def _scaled(customers: int, sessions: int, text: str) -> Size:
    try:
        count = int(text.strip().replace("_", ""))
    except ValueError:
        raise CommandError(
            f"--scaling takes session counts, e.g. 250000,1000000; not “{text}”."
        ) from None
    if count < 1:
        raise CommandError("--scaling counts must be positive.")
    return Size(customers=max(1, round(customers * count / sessions)), sessions=count)


# --- the run -------------------------------------------------------------------------------


def _queue_with_chunk_sizes(operator: Operator, period: date, options: dict) -> BillingRun:
    """`queue_billing_run` with other chunk limits (to try chunk sizes)."""
    limits = {
        name: options[f"chunk_{name}"]
        for name in ("customers", "sessions")
        if options[f"chunk_{name}"]
    }
    run = plan_billing_run(
        operator=operator, period=period, **{f"chunk_{k}": v for k, v in limits.items()}
    )
    for chunk_id in pending_chunk_ids(run):
        bill_chunk.delay(chunk_id)
    return run


def _show(bar: tqdm, run: BillingRun) -> None:
    bar.total = run.chunks_total
    bar.n = run.chunks_done
    bar.set_postfix_str(
        f"documents={run.documents_issued:,} sessions={run.sessions_billed:,}", refresh=False
    )
    bar.refresh()


def _copy_baseline(run: BillingRun) -> tuple[CopyBaseline, int]:
    """Seconds to COPY the run's documents, lines and session links, and how many links."""
    of_run = sql.SQL(
        "document_id IN (SELECT id FROM invoicing_document WHERE billing_run_id = {})"
    ).format(sql.Literal(run.pk))
    baseline = copy_baseline(
        [
            (Document, sql.SQL("billing_run_id = {}").format(sql.Literal(run.pk))),
            (DocumentLine, of_run),
            (BilledSession, of_run),
        ]
    )
    return baseline, BilledSession.objects.filter(document__billing_run=run).count()


# --- the worker processes and their memory -------------------------------------------------


class Worker:
    """A Celery worker subprocess (prefork pool) on the scratch database, with its own queue."""

    # The private queue: another worker on the same broker cannot take the benchmark's chunks
    # (and bill them against its own database), nor can this one take theirs. Every other task
    # sent meanwhile (the PDF of each issued document) goes to a sink queue nobody consumes:
    # queueing it is part of issuing, rendering is not part of the run.

    def __init__(self, *, concurrency: int) -> None:
        self.concurrency = concurrency
        self.queue = f"bench_billing_{os.getpid()}"
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in __exit__
            prefix="bench_billing_worker_", suffix=".log"
        )
        self._peaks: dict[int, int] = {}
        self._cpu: dict[int, float] = {}
        self._main_peak = 0
        self.tasks_not_run = 0

    def __enter__(self) -> Worker:
        # On the scratch database this process works in now, with the same broker.
        env = child_env(CELERY_BROKER_URL=settings.CELERY_BROKER_URL)
        command = manage_py(
            "bench_billing", "--serve-worker", self.queue, "--workers", str(self.concurrency)
        )
        self.process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in Path(self.log.name).read_bytes():
                return
            if not self.alive():
                raise CommandError("The Celery worker did not start:\n" + self.log_tail())
            time.sleep(0.1)
        raise CommandError(f"The Celery worker was not ready in {timeout:.0f} s.")

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample()
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: finish, then exit
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        drain_queue(self.queue)
        self.tasks_not_run = drain_queue(_sink(self.queue))
        self.log.close()

    def routing(self) -> AbstractContextManager[None]:
        """Send the run's chunk tasks to this worker's queue while the block runs."""
        return routed(_routes(self.queue))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def sample(self) -> None:
        """Note the peak RSS of the main and every pool process, and the pool's CPU time."""
        if not self.alive():
            return
        self._main_peak = max(self._main_peak, peak_memory_kb(self.process.pid))
        for pid in children(self.process.pid):
            self._peaks[pid] = max(self._peaks.get(pid, 0), peak_memory_kb(pid))
            self._cpu[pid] = max(self._cpu.get(pid, 0.0), cpu_seconds(pid))

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the pool processes used so far."""
        return sum(self._cpu.values())

    def peaks(self) -> dict[str, int]:
        """Peak kB per process: 'main' and one entry per pool process."""
        return {"main": self._main_peak} | {f"pool-{pid}": kb for pid, kb in self._peaks.items()}


def _serve_worker(queue: str, concurrency: int) -> None:
    """Run the Celery worker of a benchmark (the subprocess `Worker` starts)."""
    app.conf.task_routes = _routes(queue)
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--queues={queue}",
            f"--hostname={queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ]
    )


def _sink(queue: str) -> str:
    return f"{queue}_not_run"


def _routes(queue: str) -> dict[str, dict[str, str]]:
    return {"invoicing.bill_chunk": {"queue": queue}, "*": {"queue": _sink(queue)}}
