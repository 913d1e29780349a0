"""Benchmark: bulk-ingest synthetic sessions, through the service or the integrator API, into
the configured database and report the rate."""

from __future__ import annotations

import http.client
import queue
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice

import simplejson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql
from tqdm import tqdm

from cpo_portal.kernel.integrations.keys import create_api_key
from customers.models import ChargingToken, Customer
from invoicing.models import (
    ApiKey,
    Integrator,
    Operator,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from sessions.models import EVSE, ChargingSession, Location, SessionChargeLine, Tariff
from sessions.pricing.limits import MAX_BULK_ITEMS
from sessions.services import ingest_sessions
from tests.bench.fixtures import (
    TARIFF_MIX,
    create_drivers,
    create_network,
    create_operator,
    import_tariffs,
    session_payloads,
)
from tests.bench.processes import (
    CopyBaseline,
    children,
    copy_baseline,
    peak_memory_kb,
    reset_peak_memory,
)
from tests.bench.profiling import Profile, sampled
from tests.bench.report import mb, percentile, verdict
from tests.bench.results import record
from tests.bench.scratch import child_env

SERVER_START_TIMEOUT = 60
API_TARGET_RATE = 2_000  # priced sessions per second through POST /api/v1/sessions/bulk/
# Deliveries are written but never sent: nothing listens on the discard port.
WEBHOOK_SINK = "http://127.0.0.1:9/bench-ingest"


class Command(BaseCommand):
    help = (
        "Bulk-ingest N synthetic native sessions (priced, with breakdown) into the configured "
        "database under a throwaway operator, report sessions/s, then remove them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, default=100_000)
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Sessions per batch or request."
        )
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data.")
        parser.add_argument(
            "--api",
            action="store_true",
            help="Send the sessions to POST /api/v1/sessions/bulk/ of a gunicorn server started "
            "for the benchmark, instead of calling the ingest service in this process.",
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="gunicorn worker processes (--api; default 2)."
        )
        parser.add_argument(
            "--clients",
            type=int,
            default=4,
            help="Requests in flight at once (--api; default 4, so no worker waits for one).",
        )
        parser.add_argument(
            "--webhook",
            action="store_true",
            help="--api with a webhook endpoint subscribed to session.priced, so every session "
            "also writes its outbox event and delivery.",
        )

    def handle(
        self,
        *args,
        sessions: int,
        batch_size: int,
        keep: bool,
        api: bool,
        workers: int,
        clients: int,
        webhook: bool,
        **options,
    ):
        if sessions < 1 or batch_size < 1 or workers < 1 or clients < 1:
            raise CommandError(
                "--sessions, --batch-size, --workers and --clients must be positive."
            )
        if webhook and not api:
            raise CommandError("--webhook goes with --api.")
        if api and batch_size > MAX_BULK_ITEMS:
            raise CommandError(f"The API takes at most {MAX_BULK_ITEMS} sessions per request.")
        # The API run's server figures: peak memory per gunicorn process and the sampled profile.
        self._server_peaks: dict[str, int] = {}
        self._profile = Profile()
        operator, evse_ids, token_uids = self._fixtures()
        try:
            batches = _batches(sessions, batch_size, evse_ids, token_uids)
            if api:
                created, elapsed, detail = self._through_api(
                    operator,
                    batches,
                    sessions,
                    batch_size=batch_size,
                    workers=workers,
                    clients=clients,
                    webhook=webhook,
                )
            else:
                created, elapsed, detail = self._through_service(operator, batches, sessions)
            lines = SessionChargeLine.objects.filter(session__operator=operator).count()
            self.stdout.write(
                f"Ingested {created:,} sessions into {connection.vendor} {detail} in "
                f"{elapsed:.1f} s: {created / elapsed:,.0f} sessions/s ({lines:,} lines)."
            )
            if created != sessions:
                raise CommandError(f"Only {created} of {sessions} sessions were created.")
            baseline = CopyBaseline(0.0, 0.0)
            if connection.vendor == "postgresql":
                baseline = _copy_baseline(operator)
                self.stdout.write(
                    f"  COPY baseline: {created:,} sessions + {lines:,} lines in "
                    f"{baseline.compared(elapsed, work='ingest')}"
                )
            if api:
                self.stdout.write(self._api_measures(self._server_peaks, self._profile))
                record(
                    "api_ingest_webhook" if webhook else "api_ingest",
                    sessions=created,
                    lines=lines,
                    seconds=elapsed,
                    copy_seconds=baseline.seconds,
                    copy_fk_seconds=baseline.with_foreign_keys,
                    workers=workers,
                    peaks_kb=self._server_peaks,
                    profile=self._profile.as_dict(),
                )
                rate = created / elapsed
                figure = f"{rate:,.0f} sessions/s against a target of >= {API_TARGET_RATE:,}/s"
                self.stdout.write(
                    verdict(
                        self.style,
                        within=rate >= API_TARGET_RATE,
                        met=f"Meets the target: {figure}.",
                        missed=f"Misses the target: {figure}.",
                    )
                )
        finally:
            if not keep:
                self._clean_up(operator)

    def _through_service(self, operator, batches, total) -> tuple[int, float, str]:
        source = f"bench-{operator.pk}"
        created = 0
        started = time.perf_counter()
        with tqdm(total=total, desc="Ingest", unit="session") as bar:
            for payloads in batches:
                outcomes = ingest_sessions(operator=operator, source=source, payloads=payloads)
                created += sum(1 for o in outcomes if o.status == "created")
                bar.update(len(payloads))
        return created, time.perf_counter() - started, "through the service"

    def _through_api(
        self,
        operator,
        batches,
        total,
        *,
        batch_size: int,
        workers: int,
        clients: int,
        webhook: bool,
    ) -> tuple[int, float, str]:
        integrator = Integrator.objects.create(
            operator=operator, name="Benchmark", session_source=f"bench-api-{operator.pk}"
        )
        if webhook:
            WebhookEndpoint.objects.create(
                integrator=integrator,
                url=WEBHOOK_SINK,
                events=[WebhookEventType.SESSION_PRICED],
            )
        key = create_api_key(
            integrator=integrator,
            name="benchmark",
            scope=ApiKey.Scope.WRITE,
            requests_per_minute=1_000_000,
        ).plaintext
        # Bodies are encoded before the clock starts: the client's work is not the server's.
        bodies = queue.SimpleQueue()
        for payloads in batches:
            bodies.put((len(payloads), simplejson.dumps({"sessions": payloads}).encode()))
        with api_server(workers) as (host, port, server):
            workers_pids = children(server.pid)
            for pid in [server.pid, *workers_pids]:
                reset_peak_memory(pid)
            results: list[tuple[int, float]] = []
            failures: list[str] = []
            bar = tqdm(total=total, desc="Ingest via API", unit="session")

            def send() -> None:
                while not failures:
                    try:
                        count, body = bodies.get_nowait()
                    except queue.Empty:
                        return
                    began = time.perf_counter()
                    status, answer = _post(host, port, key, body)
                    took = time.perf_counter() - began
                    if status != 200:
                        failures.append(f"HTTP {status}: {answer[:300]!r}")
                        return
                    results.append((simplejson.loads(answer)["created"], took))
                    bar.update(count)

            with sampled(workers_pids) as self._profile:
                started = time.perf_counter()
                threads = [threading.Thread(target=send) for _ in range(clients)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
            bar.close()
            self._server_peaks = {"master": peak_memory_kb(server.pid)} | {
                f"worker-{pid}": peak_memory_kb(pid) for pid in workers_pids
            }
        if failures:
            raise CommandError(f"The API refused a bulk request: {failures[0]}")
        took = sorted(t for _created, t in results)
        detail = (
            f"through the API (POST /api/v1/sessions/bulk/, {len(took)} requests of up to "
            f"{batch_size:,} sessions, gunicorn with "
            f"{workers} worker process(es), {clients} client thread(s); request median "
            f"{statistics.median(took) * 1000:,.0f} ms, p95 {percentile(took, 95) * 1000:,.0f} ms"
        )
        if webhook:
            deliveries = WebhookDelivery.objects.filter(event__operator=operator).count()
            detail += f"; webhook outbox: {deliveries:,} session.priced deliveries written"
        detail += ")"
        return sum(c for c, _t in results), elapsed, detail

    def _api_measures(self, peaks_kb: dict[str, int], profile: Profile) -> str:
        workers = [kb for name, kb in peaks_kb.items() if name != "master"]
        return (
            f"  Peak memory (VmHWM): gunicorn workers max {mb(max(workers, default=0))}, "
            f"master {mb(peaks_kb.get('master', 0))}.\n" + profile.report()
        )

    def _fixtures(self) -> tuple[Operator, list[str], list[str]]:
        with transaction.atomic():
            operator = create_operator(name=f"Benchmark {time.time_ns()}")
            network = create_network(operator, locations=4, evses_per_location=20)
            import_tariffs(operator, TARIFF_MIX)
            token_uids = create_drivers(operator, 500)
        return operator, network.evse_ids, token_uids

    def _clean_up(self, operator: Operator) -> None:
        with transaction.atomic():
            WebhookDelivery.objects.filter(event__operator=operator).delete()
            WebhookEvent.objects.filter(operator=operator).delete()
            WebhookEndpoint.objects.filter(integrator__operator=operator).delete()
            ApiKey.objects.filter(integrator__operator=operator).delete()
            Integrator.objects.filter(operator=operator).delete()
            SessionChargeLine.objects.filter(session__operator=operator).delete()
            ChargingSession.objects.filter(operator=operator).delete()
            ChargingToken.objects.filter(customer__operator=operator).delete()
            Customer.objects.filter(operator=operator).delete()
            EVSE.objects.filter(location__operator=operator).delete()
            Location.objects.filter(operator=operator).delete()
            Tariff.objects.filter(operator=operator).delete()
            operator.delete()


def _copy_baseline(operator: Operator) -> CopyBaseline:
    """What PostgreSQL takes to COPY the operator's sessions and their charge lines."""
    of_operator = sql.SQL("operator_id = {}").format(sql.Literal(operator.pk))
    return copy_baseline(
        [
            (ChargingSession, of_operator),
            (
                SessionChargeLine,
                sql.SQL("session_id IN (SELECT id FROM {} WHERE {})").format(
                    sql.Identifier(ChargingSession._meta.db_table), of_operator
                ),
            ),
        ]
    )


def _batches(
    sessions: int, batch_size: int, evse_ids: list[str], token_uids: list[str]
) -> Iterator[list[dict]]:
    """Synthetic native records over 90 days, 4 in 5 with a known charging token."""
    rng = random.Random(7)
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    starts = (origin + timedelta(minutes=rng.randint(0, 60 * 24 * 90)) for _ in range(sessions))
    payloads = session_payloads(
        starts,
        evse_ids=evse_ids,
        tariff_ids=[t["id"] for t in TARIFF_MIX],
        prefix="B",
        token_uids=token_uids,
    )
    while batch := list(islice(payloads, batch_size)):
        yield batch


@contextmanager
def api_server(workers: int) -> Iterator[tuple[str, int, subprocess.Popen]]:
    """gunicorn on a free local port, on this process's database; stopped afterwards.

    The server's tasks (webhook sends) go to an in-memory broker that ends with it: a benchmark
    leaves no messages for real workers.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = child_env(DEBUG="false", CELERY_BROKER_URL="memory://")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "cpo_portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
    )
    try:
        _wait_until_up("127.0.0.1", port, server)
        yield "127.0.0.1", port, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_up(host: str, port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError(f"gunicorn stopped at start (exit code {server.returncode}).")
        probe = http.client.HTTPConnection(host, port, timeout=5)
        try:
            probe.request("GET", "/api/v1/schema/?format=json")
            if probe.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            probe.close()
        time.sleep(0.2)
    raise CommandError(f"gunicorn did not answer within {SERVER_START_TIMEOUT} s.")


def _post(host: str, port: int, key: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=600)
    try:
        conn.request(
            "POST",
            "/api/v1/sessions/bulk/",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
