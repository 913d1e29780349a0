"""Benchmark: PDF rendering of one-page invoices, a 1,000-session monthly invoice, two workers.

Runs against a scratch database (a temporary SQLite file, or `<name>_bench_pdf` on PostgreSQL)
that is migrated, filled through the real services (ingest, issue, billing run) and dropped at
the end; PDFs go to a temporary media directory. Nothing is left behind: the tasks issuing
queues (PDF renders) go to a private queue nobody consumes, purged afterwards.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.test.utils import override_settings

from cpo_portal.kernel.periods import previous_period, today_for
from invoicing.billing.runs import run_billing
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import Document, InvoicingSettings, Operator
from invoicing.output import pdf
from sessions.services import ingest_sessions
from tests.bench.fixtures import (
    AC_DC_TARIFFS,
    create_customer,
    create_network,
    create_operator,
    import_tariffs,
    session_payloads,
)
from tests.bench.report import verdict
from tests.bench.scratch import child_env, manage_py, scratch_database, tasks_held

TARGET_ONE_PAGE_MS = 80
TARGET_MONTHLY_S = 5.0
TARGET_MONTHLY_MB = 250
ONE_PAGE_RENDERS = 30
THROUGHPUT_DOCUMENTS = 90
MONTHLY_SESSIONS = 1000


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
        with (
            tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp,
            scratch_database("bench_pdf") as db,
            override_settings(MEDIA_ROOT=str(Path(tmp) / "media")),
        ):
            self._run(db, Path(tmp) / "media", options)

    # --- the parent -------------------------------------------------------------------------

    def _run(self, db: str, media: Path, options) -> None:
        self.stdout.write(f"Scratch database {db} on {connection.vendor}; building documents…")
        with tasks_held("bench_pdf"):
            one_page, monthly = build_documents(
                sessions=options["sessions"],
                documents=max(options["documents"], options["renders"]),
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
        (result,) = run_workers(media, [[monthly.pk]], keep=options["keep_pdfs"], warm=warm)
        seconds = result["seconds"][0]
        self._report(
            f"Monthly invoice, {monthly.session_count:,} sessions: {seconds:.2f} s, "
            f"{result['pages'][0]} pages, {result['bytes'][0] / 1024:.0f} KB, "
            f"peak RSS of the rendering process {result['max_rss_mb']:.0f} MB",
            seconds <= TARGET_MONTHLY_S and result["max_rss_mb"] <= TARGET_MONTHLY_MB,
            f"target <= {TARGET_MONTHLY_S:.0f} s and <= {TARGET_MONTHLY_MB} MB",
        )

        # Each document is stored once, so the lone worker and the pair get their own thirds.
        ids = [d.pk for d in one_page]
        third = len(ids) // 3
        (alone,) = run_workers(media, [ids[:third]], keep=None, warm=warm)
        single = len(alone["seconds"]) / sum(alone["seconds"])
        pair = [ids[third::2], ids[third + 1 :: 2]]
        started = time.perf_counter()
        results = run_workers(media, pair, keep=None, warm=warm)
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
            return
        self.stdout.write(
            verdict(
                self.style,
                within=ok,
                met=f"{text} — OK ({target})",
                missed=f"{text} — SLOW ({target})",
            )
        )

    # --- a worker process -------------------------------------------------------------------

    def _worker(self, job: dict) -> None:
        # DATABASE_URL names the parent's scratch database (scratch.child_env).
        with override_settings(MEDIA_ROOT=job["media"]):
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


def run_workers(media: Path, batches: list[list[int]], keep: str | None, warm: int) -> list[dict]:
    """Render each batch in its own fresh process, all at once; their reports."""
    env = child_env()
    processes = [
        subprocess.Popen(
            manage_py(
                "bench_pdf",
                "--worker",
                json.dumps({"media": str(media), "documents": batch, "keep": keep, "warm": warm}),
            ),
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


def build_documents(*, sessions: int, documents: int) -> tuple[list[Document], Document]:
    """Per-session one-page invoices and one monthly invoice, issued by the real services."""
    operator = create_operator(
        breakdown_page=False,
        issuing_schedule=InvoicingSettings.IssuingSchedule.PER_SESSION,
        notice="Thank you for charging with VoltWay.",
    )
    network = create_network(operator, locations=1, evses_per_location=8)
    tariff_ids = [t.ocpi_id for t in import_tariffs(operator, AC_DC_TARIFFS)]
    driver = create_customer(operator)
    fleet = create_customer(operator, company=True)

    now = datetime.now(tz=UTC).replace(microsecond=0)
    outcomes = ingest_sessions(
        operator=operator,
        source="bench",
        payloads=list(
            session_payloads(
                (now - timedelta(hours=6, minutes=n) for n in range(documents)),
                evse_ids=network.evse_ids,
                tariff_ids=tariff_ids,
                prefix="ONE",
                customer_id=driver.pk,
            )
        ),
    )
    issue_session_documents(session_ids=[o.session_id for o in outcomes])
    one_page = list(Document.objects.filter(customer=driver).order_by("id"))

    # The monthly invoice: detailed table, breakdown pages, energy and duration shown.
    InvoicingSettings.objects.filter(operator=operator).update(
        breakdown_page=True, issuing_schedule=InvoicingSettings.IssuingSchedule.MONTHLY
    )
    operator = Operator.objects.get(pk=operator.pk)
    period = previous_period(today_for(operator))
    first = datetime(period.year, period.month, 1, 6, tzinfo=UTC)
    ingest_sessions(
        operator=operator,
        source="bench",
        payloads=list(
            session_payloads(
                (first + timedelta(minutes=n * 38 % (26 * 24 * 60)) for n in range(sessions)),
                evse_ids=network.evse_ids,
                tariff_ids=tariff_ids,
                prefix="MONTH",
                customer_id=fleet.pk,
            )
        ),
    )
    run_billing(operator=operator, period=period)
    return one_page, Document.objects.get(customer=fleet)
