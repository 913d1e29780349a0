"""Benchmark: bulk-ingest synthetic sessions into the configured database and report the rate."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from tqdm import tqdm

from customers.models import ChargingToken, Customer
from invoicing.models import InvoicingSettings, Operator
from sessions.models import EVSE, ChargingSession, Location, SessionChargeLine, Tariff
from sessions.pricing.bench import BENCH_TARIFFS, BENCH_TIME_ZONES
from sessions.services import import_tariff, ingest_sessions


class Command(BaseCommand):
    help = (
        "Bulk-ingest N synthetic native sessions (priced, with breakdown) into the configured "
        "database under a throwaway operator, report sessions/s, then remove them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sessions", type=int, default=100_000)
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark data.")

    def handle(self, *args, sessions: int, batch_size: int, keep: bool, **options):
        if sessions < 1 or batch_size < 1:
            raise CommandError("--sessions and --batch-size must be positive.")
        rng = random.Random(7)  # noqa: S311 - reproducible synthetic load, not secrets
        operator, evse_ids, token_uids = self._fixtures()
        tariff_ids = [t["id"] for t in BENCH_TARIFFS]
        origin = datetime(2026, 1, 1, tzinfo=UTC)
        source = f"bench-{operator.pk}"

        started = time.perf_counter()
        created = 0
        with tqdm(total=sessions, desc="Ingest", unit="session") as bar:
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
                outcomes = ingest_sessions(operator=operator, source=source, payloads=payloads)
                created += sum(1 for o in outcomes if o.status == "created")
                bar.update(len(payloads))
        elapsed = time.perf_counter() - started

        self.stdout.write(
            f"Ingested {created:,} sessions into {connection.vendor} in {elapsed:.1f} s: "
            f"{created / elapsed:,.0f} sessions/s "
            f"({SessionChargeLine.objects.filter(session__operator=operator).count():,} lines)."
        )
        if created != sessions:
            raise CommandError(f"Only {created} of {sessions} sessions were created.")
        if not keep:
            self._clean_up(operator)

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
            SessionChargeLine.objects.filter(session__operator=operator).delete()
            ChargingSession.objects.filter(operator=operator).delete()
            ChargingToken.objects.filter(customer__operator=operator).delete()
            Customer.objects.filter(operator=operator).delete()
            EVSE.objects.filter(location__operator=operator).delete()
            Location.objects.filter(operator=operator).delete()
            Tariff.objects.filter(operator=operator).delete()
            operator.delete()
