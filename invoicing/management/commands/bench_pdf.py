"""Benchmark: PDF rendering of one-page invoices, a 1,000-session monthly invoice, two workers.

Runs against a scratch database (a temporary SQLite file, or `bench_pdf_<pid>` on PostgreSQL)
that is migrated, filled through the real services (ingest, issue, billing run) and dropped at
the end; PDFs go to a temporary media directory. Nothing is left behind, nothing is queued.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.test.utils import override_settings

TARGET_ONE_PAGE_MS = 80
TARGET_MONTHLY_S = 5.0
TARGET_MONTHLY_MB = 250
ONE_PAGE_RENDERS = 30
THROUGHPUT_DOCUMENTS = 90
MONTHLY_SESSIONS = 1000

# Energy, charging time with idle fee, and a connection fee: two to four lines per session,
# as on a real network with AC and DC chargers.
BENCH_TARIFFS = [
    {
        "country_code": "DE",
        "party_id": "BEN",
        "id": "BENCH-AC",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.39"), "step_size": 1}]},
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": Decimal("6.00"), "step_size": 60}
                ]
            },
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    },
    {
        "country_code": "DE",
        "party_id": "BEN",
        "id": "BENCH-DC",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": Decimal("1.50"), "step_size": 1}]},
            {"price_components": [{"type": "ENERGY", "price": Decimal("0.59"), "step_size": 1}]},
            {"price_components": [{"type": "TIME", "price": Decimal("1.20"), "step_size": 60}]},
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": Decimal("12.00"), "step_size": 60}
                ]
            },
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    },
]


class Command(BaseCommand):
    help = (
        "Render PDFs against a scratch database: one-page median, a 1,000-session monthly "
        "invoice with breakdown pages (time, peak memory), and PDFs per second with two workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, default=MONTHLY_SESSIONS)
        parser.add_argument("--renders", type=int, default=ONE_PAGE_RENDERS)
        parser.add_argument("--documents", type=int, default=THROUGHPUT_DOCUMENTS)
        parser.add_argument("--keep-pdfs", help="Copy the rendered sample PDFs to this directory.")
        # Internal: a worker process rendering documents of the parent's scratch database.
        parser.add_argument("--worker", help="(internal) JSON job for a worker process.")

    def handle(self, *args, **options):
        if options["worker"]:
            self._worker(json.loads(options["worker"]))
            return
        if min(options["sessions"], options["renders"], options["documents"]) < 1:
            raise CommandError("--sessions, --renders and --documents must be positive.")
        with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp, scratch_database(tmp) as db:
            media = Path(tmp) / "media"
            with override_settings(MEDIA_ROOT=str(media)):
                self._run(db, media, options)

    # --- the parent -------------------------------------------------------------------------

    def _run(self, db: str, media: Path, options) -> None:
        from invoicing.output import pdf

        self.stdout.write(f"Scratch database {db} on {connection.vendor}; building documents…")
        one_page, throughput, monthly = build_documents(
            sessions=options["sessions"], documents=max(options["documents"], options["renders"])
        )
        pdf.render_pdf(one_page[0])  # warm-up: imports, fonts, templates
        timings = []
        for index in range(options["renders"]):
            document = one_page[index % len(one_page)]
            started = time.perf_counter()
            data = pdf.render_pdf(document)
            timings.append((time.perf_counter() - started) * 1000)
        pages = data.count(b"/Type /Page\n") or data.count(b"/Type /Page")
        median = statistics.median(timings)
        self._report(
            f"One-page invoice: median {median:.0f} ms, p90 "
            f"{statistics.quantiles(timings, n=10)[-1]:.0f} ms over {len(timings)} renders "
            f"({len(data) / 1024:.0f} KB, {pages} page)",
            median <= TARGET_ONE_PAGE_MS,
            f"target <= {TARGET_ONE_PAGE_MS} ms",
        )

        connections.close_all()
        warm = one_page[0].pk
        (result,) = run_workers(db, media, [[monthly.pk]], keep=options["keep_pdfs"], warm=warm)
        seconds = result["seconds"][0]
        self._report(
            f"Monthly invoice, {monthly.session_count:,} sessions: {seconds:.2f} s, "
            f"{result['pages'][0]} pages, {result['bytes'][0] / 1024:.0f} KB, "
            f"peak RSS of the rendering process {result['max_rss_mb']:.0f} MB",
            seconds <= TARGET_MONTHLY_S and result["max_rss_mb"] <= TARGET_MONTHLY_MB,
            f"target <= {TARGET_MONTHLY_S:.0f} s and <= {TARGET_MONTHLY_MB} MB",
        )

        # Each document is stored once, so the lone worker and the pair get their own thirds.
        ids = [d.pk for d in throughput]
        third = len(ids) // 3
        (alone,) = run_workers(db, media, [ids[:third]], keep=None, warm=warm)
        single = len(alone["seconds"]) / sum(alone["seconds"])
        pair = [ids[third::2], ids[third + 1 :: 2]]
        started = time.perf_counter()
        results = run_workers(db, media, pair, keep=None, warm=warm)
        slowest = max(sum(r["seconds"]) for r in results)
        rate = (len(pair[0]) + len(pair[1])) / slowest
        cpu_ms = 1000 * sum(r["cpu"] for r in results) / (len(pair[0]) + len(pair[1]))
        self._report(
            f"Two worker processes: {rate:.1f} PDFs/s (one-page documents rendered, hashed and "
            f"stored; one worker alone {single:.1f} PDFs/s; {cpu_ms:.0f} ms CPU per PDF; "
            f"{os.cpu_count()} cores; {time.perf_counter() - started:.1f} s wall with start-up)",
            None,
            "",
        )

    def _report(self, text: str, ok: bool | None, target: str) -> None:
        if ok is None:
            self.stdout.write(text)
        elif ok:
            self.stdout.write(self.style.SUCCESS(f"{text} — OK ({target})"))
        else:
            self.stdout.write(self.style.WARNING(f"{text} — SLOW ({target})"))

    # --- a worker process -------------------------------------------------------------------

    def _worker(self, job: dict) -> None:
        connections["default"].settings_dict["NAME"] = job["db"]
        with override_settings(MEDIA_ROOT=job["media"]):
            from invoicing.models import Document
            from invoicing.output import pdf

            # Warm-up outside the timings: imports, font registration, template compilation.
            pdf.render_pdf(Document.objects.get(pk=job["warm"]))
            seconds, pages, sizes = [], [], []
            cpu_started = time.process_time()
            for document_id in job["documents"]:
                started = time.perf_counter()
                document_file, _created = pdf.store_document_pdf(document_id=document_id)
                seconds.append(time.perf_counter() - started)
                with document_file.file.open("rb") as handle:
                    data = handle.read()
                pages.append(data.count(b"/Type /Page\n") or data.count(b"/Type /Page"))
                sizes.append(len(data))
                if job.get("keep"):
                    number = Document.objects.get(pk=document_id).display_number
                    Path(job["keep"]).mkdir(parents=True, exist_ok=True)
                    (Path(job["keep"]) / f"{number}.pdf").write_bytes(data)
            cpu = time.process_time() - cpu_started
        max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            json.dumps(
                {
                    "seconds": seconds,
                    "cpu": cpu,
                    "pages": pages,
                    "bytes": sizes,
                    "max_rss_mb": max_rss_mb,
                }
            )
        )


@contextmanager
def scratch_database(tmp: str) -> Iterator[str]:
    """A freshly migrated database of its own, dropped afterwards."""
    creation = connection.creation
    original = connection.settings_dict["NAME"]
    test = connection.settings_dict.setdefault("TEST", {})
    saved_test_name = test.get("NAME")
    if connection.vendor == "sqlite":
        test["NAME"] = str(Path(tmp) / "bench.sqlite3")
    else:
        test["NAME"] = f"bench_pdf_{os.getpid()}"
    name = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield name
    finally:
        connections.close_all()
        creation.destroy_test_db(original, verbosity=0)
        test["NAME"] = saved_test_name


def run_workers(
    db: str, media: Path, batches: list[list[int]], keep: str | None, warm: int
) -> list[dict]:
    """Render each batch in its own fresh process, all at once; their reports."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(  # noqa: S603 - our own manage.py with our own arguments
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "bench_pdf",
                "--worker",
                json.dumps(
                    {
                        "db": db,
                        "media": str(media),
                        "documents": batch,
                        "keep": keep,
                        "warm": warm,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for batch in batches
    ]
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode:
            raise CommandError(f"A worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@contextmanager
def quiet_hooks() -> Iterator[None]:
    """Nothing is queued while the benchmark issues its documents (no broker messages)."""
    from invoicing.output import pipeline as outputs
    from sessions import services as session_services

    class NoTask:
        @staticmethod
        def delay(*args, **kwargs):
            return None

    saved = (outputs.after_issue, session_services.issue_session_documents)
    outputs.after_issue = lambda document_ids: None
    session_services.issue_session_documents = NoTask()
    try:
        yield
    finally:
        outputs.after_issue, session_services.issue_session_documents = saved


def build_documents(*, sessions: int, documents: int):
    """Per-session one-page invoices and one monthly invoice, issued by the real services."""
    from customers.models import Customer
    from invoicing.billing.runs import previous_period, run_billing
    from invoicing.documents.issuing import issue_session_documents, today_for
    from invoicing.models import Document, InvoicingSettings, Operator
    from sessions.models import EVSE, Location
    from sessions.services import import_tariff, ingest_sessions

    with quiet_hooks():
        operator = Operator.objects.create(
            name="VoltWay",
            legal_name="VoltWay Charging GmbH",
            street="Invalidenstraße 117",
            postal_code="10115",
            city="Berlin",
            country="DE",
            vat_id="DE136695976",
            tax_number="30/123/45678",
            email="billing@voltway.example",
            bank_details="IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX",
        )
        settings_row = InvoicingSettings.objects.create(
            operator=operator,
            breakdown_page=False,
            issuing_schedule=InvoicingSettings.IssuingSchedule.PER_SESSION,
            notice="Thank you for charging with VoltWay.",
        )
        location = Location.objects.create(
            operator=operator,
            name="Berlin Hauptbahnhof",
            street="Europaplatz 1",
            postal_code="10557",
            city="Berlin",
            country="DE",
            time_zone="Europe/Berlin",
        )
        evses = [
            EVSE.objects.create(location=location, evse_id=f"DE*BEN*E{n:05d}") for n in range(8)
        ]
        tariffs = [import_tariff(operator=operator, data=t).ocpi_id for t in BENCH_TARIFFS]
        driver = Customer.objects.create(
            operator=operator,
            kind=Customer.Kind.INDIVIDUAL,
            name="Anna Schmidt",
            email="anna@example.org",
            street="Musterstraße 1",
            postal_code="10117",
            city="Berlin",
            country="DE",
            language="de",
            requires_invoice=True,
        )
        fleet = Customer.objects.create(
            operator=operator,
            kind=Customer.Kind.COMPANY,
            company_name="Logistik Nord GmbH",
            vat_id="DE811907980",
            street="Hafenstraße 10",
            postal_code="20457",
            city="Hamburg",
            country="DE",
            email="fleet@logistik-nord.example",
            language="de",
            requires_invoice=True,
            billing_mode=Customer.BillingMode.MONTHLY,
        )

        def payload(n: int, customer: Customer, start: datetime) -> dict:
            minutes = 30 + (n * 37) % 180
            idle = (0, 0, 5, 20)[n % 4]
            return {
                "source_id": f"BENCH-{customer.pk}-{n}",
                "evse_id": evses[n % len(evses)].evse_id,
                "tariff_id": tariffs[n % len(tariffs)],
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=minutes + idle)).isoformat(),
                "energy_kwh": str(Decimal(5000 + (n * 7919) % 60000) / 1000),
                "idle_minutes": idle,
                "customer_id": customer.pk,
            }

        now = datetime.now(tz=UTC).replace(microsecond=0)
        ingest_sessions(
            operator=operator,
            source="bench",
            payloads=[
                payload(n, driver, now - timedelta(hours=3, minutes=n)) for n in range(documents)
            ],
        )
        issue_session_documents(
            session_ids=list(operator.charging_sessions.values_list("id", flat=True))
        )
        one_page = list(Document.objects.filter(customer=driver).order_by("id"))

        # The monthly invoice: detailed table, breakdown pages, energy and duration shown.
        InvoicingSettings.objects.filter(pk=settings_row.pk).update(
            breakdown_page=True, issuing_schedule=InvoicingSettings.IssuingSchedule.MONTHLY
        )
        operator = Operator.objects.get(pk=operator.pk)
        period = previous_period(today_for(operator))
        first = datetime(period.year, period.month, 1, 6, tzinfo=UTC)
        ingest_sessions(
            operator=operator,
            source="bench",
            payloads=[
                payload(n, fleet, first + timedelta(minutes=n * 38 % (26 * 24 * 60)))
                for n in range(sessions)
            ],
        )
        run_billing(operator=operator, period=period)
        monthly = Document.objects.get(customer=fleet)
    return one_page, one_page, monthly
