"""Benchmark: bulk-ingest synthetic sessions, through the service or the integrator API, into
the configured database and report the rate."""

from __future__ import annotations

import http.client
import os
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
from decimal import Decimal
from pathlib import Path

import simplejson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from tqdm import tqdm

from cpo_portal.kernel.integrations.keys import create_api_key
from customers.models import ChargingToken, Customer
from invoicing.management.commands.bench_admin import percentile
from invoicing.models import (
    ApiKey,
    Integrator,
    InvoicingSettings,
    Operator,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from sessions.api.serializers import BULK_LIMIT
from sessions.models import EVSE, ChargingSession, Location, SessionChargeLine, Tariff
from sessions.pricing.bench import BENCH_TARIFFS, BENCH_TIME_ZONES
from sessions.services import import_tariff, ingest_sessions

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
        if api and batch_size > BULK_LIMIT:
            raise CommandError(f"The API takes at most {BULK_LIMIT} sessions per request.")
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
            if api:
                rate = created / elapsed
                verdict = f"{rate:,.0f} sessions/s against a target of >= {API_TARGET_RATE:,}/s"
                if rate >= API_TARGET_RATE:
                    self.stdout.write(self.style.SUCCESS(f"Meets the target: {verdict}."))
                else:
                    self.stdout.write(self.style.WARNING(f"Misses the target: {verdict}."))
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
        with api_server(workers) as (host, port):
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

            started = time.perf_counter()
            threads = [threading.Thread(target=send) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            bar.close()
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

    def _fixtures(self) -> tuple[Operator, list[str], list[str]]:
        with transaction.atomic():
            operator = Operator.objects.create(
                name=f"Benchmark {time.time_ns()}",
                legal_name="Benchmark",
                street="-",
                postal_code="-",
                city="-",
                country="DE",
                email="bench@example.org",
            )
            InvoicingSettings.objects.create(operator=operator)
            for tariff in BENCH_TARIFFS:
                import_tariff(operator=operator, data=tariff)
            evse_ids = []
            for index, tz in enumerate(BENCH_TIME_ZONES):
                location = Location.objects.create(
                    operator=operator,
                    name=f"Bench {index}",
                    street="-",
                    postal_code="-",
                    city="-",
                    country="DE",
                    time_zone=tz,
                )
                for n in range(20):
                    evse = EVSE.objects.create(
                        location=location, evse_id=f"BENCH*{operator.pk}*{index}*{n}"
                    )
                    evse_ids.append(evse.evse_id)
            token_uids = []
            for n in range(500):
                customer = Customer.objects.create(
                    operator=operator, kind=Customer.Kind.INDIVIDUAL, name=f"Driver {n}"
                )
                token = ChargingToken.objects.create(
                    customer=customer, kind=ChargingToken.Kind.RFID, uid=f"B{operator.pk}T{n}"
                )
                token_uids.append(token.uid)
        return operator, evse_ids, token_uids

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


def _batches(
    sessions: int, batch_size: int, evse_ids: list[str], token_uids: list[str]
) -> Iterator[list[dict]]:
    """Synthetic native records over 90 days, 4 in 5 with a known charging token."""
    rng = random.Random(7)  # noqa: S311 - reproducible synthetic load, not secrets
    tariff_ids = [t["id"] for t in BENCH_TARIFFS]
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    for offset in range(0, sessions, batch_size):
        payloads = []
        for n in range(offset, min(offset + batch_size, sessions)):
            start = origin + timedelta(minutes=rng.randint(0, 60 * 24 * 90))
            idle = rng.choice((0, 0, 5, 20))
            payload = {
                "source_id": f"B{n:09d}",
                "evse_id": rng.choice(evse_ids),
                "tariff_id": rng.choice(tariff_ids),
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=rng.randint(20, 240) + idle)).isoformat(),
                "energy_kwh": str(Decimal(rng.randint(1000, 80000)) / 1000),
                "idle_minutes": idle,
            }
            if rng.random() < 0.8:
                payload["token_uid"] = rng.choice(token_uids)
            payloads.append(payload)
        yield payloads


@contextmanager
def api_server(workers: int) -> Iterator[tuple[str, int]]:
    """gunicorn on a free local port, on this process's database; stopped afterwards.

    The server's tasks (webhook sends) go to an in-memory broker that ends with it: a benchmark
    leaves no messages for real workers.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "CELERY_BROKER_URL": "memory://",
    }
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
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
        yield "127.0.0.1", port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _database_url() -> str:
    """The database this process uses (in tests: the test database), as a DATABASE_URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if "memory" in name or not Path(name).is_absolute():
            raise CommandError("--api needs a database the server process can open too.")
        return f"sqlite:///{name}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{db.get('HOST') or ''}{port}/{db['NAME']}"


def _wait_until_up(host: str, port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CommandError(f"gunicorn stopped at start (exit code {server.returncode}).")
        answer = http.client.HTTPConnection(host, port, timeout=5)
        try:
            answer.request("GET", "/api/v1/schema/?format=json")
            if answer.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            # A slow start times the probe out: its socket must not be left open.
            answer.close()
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
