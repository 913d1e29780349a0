"""What every figure shares: Django on the scratch database, its data, and reporting a figure.

A figure module runs as `python -m tests.reliability.<module>` (the runner starts it with
DATABASE_URL pointing at the scratch database) and ends with `report(line, ok)`: the line is
printed, handed to the runner, and the process exits non-zero when the figure is bad.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where the runner collects the figure lines (one per module) for its summary table.
REPORT_ENV = "RELIABILITY_REPORT"
# The reliability server's port (figure 4) and the private Celery queue of its workers.
PORT = int(os.environ.get("RELIABILITY_PORT", "8108"))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    # Figures fork processes: a connection pool shared across a fork would be shared sockets.
    os.environ.setdefault("DATABASE_POOL", "false")
    import django

    django.setup()


def sink_tasks(keep: tuple[str, ...] = ()) -> str:
    """Send every task but `keep` to a queue nobody consumes (dropped at exit); returns the
    queue for `keep`. Issuing queues PDFs and e-mails: they are not part of these figures, and
    left on the broker they would be run later against rows of a dropped database."""
    import atexit

    from cpo_portal.celery import app
    from tests.bench.scratch import drain_queue, refresh_router

    queue = f"reliability_{os.getpid()}"
    sink = f"{queue}_not_run"
    app.conf.task_routes = {**{name: {"queue": queue} for name in keep}, "*": {"queue": sink}}
    refresh_router()
    atexit.register(drain_queue, sink)
    atexit.register(drain_queue, queue)
    return queue


def report(line: str, ok: bool, *, exit_on_bad: bool = True) -> None:
    """Print the figure's one line; the process exits 1 when the figure is bad (under pytest,
    `exit_on_bad=False`: the test's own assertions fail it)."""
    status = "ok" if ok else "BAD"
    print(line, flush=True)
    if path := os.environ.get(REPORT_ENV):
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{status}\t{line}\n")
    if not ok and exit_on_bad:
        sys.exit(1)


def n(value: int) -> str:
    """16000 -> '16,000'."""
    return f"{value:,}"


# --- data, made the way production makes it (ingest prices every session) --------------------

TARIFF = {
    "id": "REL-AC",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": Decimal("1.00"), "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]},
    ],
}


def make_operator(name: str):
    """An operator with an EVSE and a tariff; settings from the factory (per-session issuing)."""
    from sessions.services import import_tariff
    from tests.factories import EVSEFactory, OperatorFactory

    operator = OperatorFactory(name=name, legal_name=f"{name} GmbH")
    EVSEFactory(location__operator=operator, evse_id=f"DE*REL*E{operator.pk:06d}")
    import_tariff(operator=operator, data=TARIFF)
    return operator


def ingest(operator, customers, *, per_customer: int, start: datetime, prefix: str) -> list[int]:
    """`per_customer` priced sessions for each customer starting at `start`; their ids."""
    from sessions.models import EVSE
    from sessions.services import ingest_sessions

    evse = EVSE.objects.filter(location__operator=operator).first()
    payloads = []
    for c, customer in enumerate(customers):
        for k in range(per_customer):
            begin = start + timedelta(minutes=7 * k + c % 60)
            payloads.append(
                {
                    "source_id": f"{prefix}-{customer.pk}-{k}",
                    "evse_id": evse.evse_id,
                    "tariff_id": TARIFF["id"],
                    "start": begin.isoformat(),
                    "end": (begin + timedelta(minutes=30)).isoformat(),
                    "energy_kwh": f"{5 + (c + k) % 20}.250",
                    "customer_id": customer.pk,
                }
            )
    ids = []
    for at in range(0, len(payloads), 2000):
        outcomes = ingest_sessions(
            operator=operator, source="reliability", payloads=payloads[at : at + 2000]
        )
        bad = [o.errors for o in outcomes if o.status != "created"]
        assert not bad, bad[:3]
        ids += [o.session_id for o in outcomes]
    return ids


def gaps_and_duplicates(operator) -> tuple[int, int, int]:
    """(documents, duplicate numbers, gaps) over every numbering series of the operator."""
    from django.db.models import Count

    from invoicing.models import Document, NumberingSeries

    documents = duplicates = gaps = 0
    for series in NumberingSeries.objects.filter(operator=operator):
        numbers = list(
            Document.objects.filter(series=series, number__isnull=False)
            .order_by("number")
            .values_list("number", flat=True)
        )
        documents += len(numbers)
        duplicates += len(numbers) - len(set(numbers))
        if numbers:
            # Gap-free: from 1 to the series' next number, every number used once.
            expected = set(range(1, series.next_number))
            gaps += len(expected - set(numbers))
    duplicates += (
        Document.objects.filter(operator=operator, display_number__gt="")
        .values("display_number")
        .annotate(c=Count("id"))
        .filter(c__gt=1)
        .count()
    )
    return documents, duplicates, gaps


EPOCH = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
