"""Benchmark: how soon a card receipt is available after its payment is matched, end to end
through a real Celery worker process (target: 5 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from cpo_portal.celery import app
from customers.services import get_anonymous_customer
from invoicing.models import Document, DocumentFile
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from invoicing.signals import terminal_payment_matched
from sessions.models import ChargingSession
from sessions.services import ingest_sessions
from tests.bench.fixtures import (
    AC_DC_TARIFFS,
    create_network,
    create_operator,
    import_tariffs,
    session_payloads,
)
from tests.bench.report import percentile, table, verdict
from tests.bench.scratch import child_env, drain_queue, manage_py, routed, scratch_database

TARGET_SECONDS = 5.0
# What makes a receipt available: issuing it (and allocating the capture), then its PDF.
RECEIPT_TASKS = ("invoicing.settle_card_payment", "invoicing.render_document_pdf")


class Command(BaseCommand):
    help = (
        "Seconds from the later of session end and capture arriving to the receipt's PDF being "
        "available on the public page, through a real Celery worker; reports p50/p95."
    )

    def add_arguments(self, parser):
        parser.add_argument("--receipts", type=int, default=100)
        parser.add_argument(
            "--interval", type=float, default=0.25, help="Seconds between two captures."
        )
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--serve-worker", help="(internal) the worker's queue.")

    def handle(self, *args, **options):
        if options["serve_worker"]:
            return _serve_worker(options["serve_worker"], options["workers"])
        if options["receipts"] < 1:
            raise CommandError("--receipts must be positive.")
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            raise CommandError(
                "The receipt latency benchmark needs PostgreSQL and a Redis broker shared with "
                "its worker (DATABASE_URL, CELERY_BROKER_URL)."
            )
        with scratch_database("bench_receipts"):
            latencies = self._measure(options)
        self.stdout.write(self._report(latencies, options))

    def _measure(self, options) -> list[float]:
        operator = create_operator()
        network = create_network(operator, locations=2, evses_per_location=4)
        tariffs = import_tariffs(operator, AC_DC_TARIFFS)
        walk_in = get_anonymous_customer(operator=operator)
        count = options["receipts"]
        start = datetime.now(UTC) - timedelta(hours=5)
        payloads = session_payloads(
            (start + timedelta(seconds=n) for n in range(count)),
            evse_ids=network.evse_ids,
            tariff_ids=[t.ocpi_id for t in tariffs],
            prefix="RCPT",
            customer_id=walk_in.pk,
        )
        queue = f"bench_receipts_{os.getpid()}"
        routes = {name: {"queue": queue} for name in RECEIPT_TASKS} | {
            "*": {"queue": f"{queue}_not_run"}
        }
        with routed(routes):
            ingest_sessions(operator=operator, source="bench", payloads=list(payloads))
            sessions = list(
                ChargingSession.objects.filter(operator=operator)
                .order_by("id")
                .values_list("id", "total_gross", "currency")
            )
            with _Worker(queue, options["workers"]):
                return self._pace(operator, sessions, options["interval"])

    def _pace(self, operator, sessions, interval: float) -> list[float]:
        sent: dict[int, float] = {}
        done: dict[int, float] = {}
        for n, (session_id, gross, currency) in enumerate(sessions):
            # The session ended hours ago: the capture arriving is the later moment.
            with transaction.atomic():
                entry = ledger.record_transaction(
                    ledger.TransactionFacts(
                        operator=operator,
                        provider="terminal",
                        provider_reference=f"BENCH-CAP-{n}",
                        kind=TransactionKind.CAPTURE,
                        status="succeeded",
                        amount=gross,
                        currency=currency,
                    )
                )
                terminal_payment_matched.send(
                    sender=None,
                    session_id=session_id,
                    transaction_id=entry.pk,
                    card_payment={
                        "brand": "VISA",
                        "last4": f"{n % 10000:04d}",
                        "authorization_code": f"A{n:05d}",
                        "terminal_id": "BENCH-T1",
                        "at": datetime.now(UTC).isoformat(),
                        "amount": str(gross),
                        "currency": currency,
                    },
                )
            sent[session_id] = time.monotonic()
            _collect(sent, done)
            time.sleep(interval)
        deadline = time.monotonic() + 120
        while len(done) < len(sent) and time.monotonic() < deadline:
            _collect(sent, done)
            time.sleep(0.02)
        if len(done) < len(sent):
            raise CommandError(f"{len(sent) - len(done)} receipts were not available in 120 s.")
        return [done[s] - sent[s] for s in sent]

    def _report(self, latencies: list[float], options) -> str:
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        lines = [
            "",
            f"Card receipts: capture matched -> receipt PDF on the public page, {len(latencies)} "
            f"receipts, one every {options['interval']} s, {options['workers']} worker processes",
            table(
                ["", ">p50", ">p95", ">max"],
                [["seconds", f"{p50:.2f}", f"{p95:.2f}", f"{max(latencies):.2f}"]],
            ),
            verdict(
                self.style,
                within=p95 <= TARGET_SECONDS,
                met=f"  p95 {p95:.2f} s is within the {TARGET_SECONDS:.0f} s target.",
                missed=f"  p95 {p95:.2f} s misses the {TARGET_SECONDS:.0f} s target.",
            ),
        ]
        return "\n".join(lines) + "\n"


def _collect(sent: dict[int, float], done: dict[int, float]) -> None:
    """Note the moment each waiting receipt's PDF is stored (polled, as the page is)."""
    waiting = [s for s in sent if s not in done]
    if not waiting:
        return
    available = DocumentFile.objects.filter(
        document__in=Document.objects.filter(card_payment__session_id__in=waiting)
    ).values_list("document__card_payment__session_id", flat=True)
    now = time.monotonic()
    for session_id in available:
        done.setdefault(int(session_id), now)


class _Worker:
    """A Celery worker subprocess on the scratch database, consuming the benchmark's queue."""

    def __init__(self, queue: str, concurrency: int) -> None:
        self.queue, self.concurrency = queue, concurrency
        self.log = tempfile.NamedTemporaryFile(prefix="bench_receipts_", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> _Worker:
        self.process = subprocess.Popen(
            manage_py(
                "bench_receipts",
                "--serve-worker",
                self.queue,
                "--workers",
                str(self.concurrency),
            ),
            cwd=settings.BASE_DIR,
            env=child_env(CELERY_BROKER_URL=settings.CELERY_BROKER_URL),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b" ready." not in Path(self.log.name).read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise CommandError(
                    "The Celery worker did not start:\n"
                    + Path(self.log.name).read_text(errors="replace")[-3000:]
                )
            time.sleep(0.1)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        drain_queue(self.queue)
        drain_queue(f"{self.queue}_not_run")
        self.log.close()


def _serve_worker(queue: str, concurrency: int) -> None:
    app.conf.task_routes = {name: {"queue": queue} for name in RECEIPT_TASKS} | {
        "*": {"queue": f"{queue}_not_run"}
    }
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
