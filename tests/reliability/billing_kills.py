"""Figure 2: monthly billing runs SIGKILLed at 200 random points, resumed, bill every session
once with gap-free numbers.

A real Celery worker (prefork pool, Redis broker, private queue) bills the chunks; a
coordinator process plans the run and fans its chunks out (`queue_billing_run`), then waits
for the run to finish. At a random moment the coordinator, a pool process of the worker (the
one billing a chunk, whose message goes back to the queue), or the whole worker is SIGKILLed;
then the coordinator is started again, as an operator would, which plans what is still
unbilled. Each closed month is one round of kills; a new month starts when a run completes.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from datetime import date, datetime, timedelta
from multiprocessing import get_context
from zoneinfo import ZoneInfo

from tests.reliability.common import (
    gaps_and_duplicates,
    ingest,
    make_operator,
    n,
    report,
    setup_django,
)

KILLS = int(os.environ.get("RELIABILITY_KILLS", "200"))
SEED = int(os.environ.get("RELIABILITY_SEED", "20261202"))
CUSTOMERS = 40
SESSIONS_PER_CUSTOMER = 3
CHUNK_CUSTOMERS = 2  # 20 chunks per run: many points between them
LONGEST_WAIT = 1.2  # seconds: kills fall uniformly between 0 and this after a start
WHOLE_WORKER_SHARE = 0.05  # of the worker kills: the master with its pool (then restarted)
FIRST_MONTH = date(2022, 1, 1)


def coordinate(operator_id: int, period: date) -> None:
    """The coordinator: (re)plan the month, fan the chunks out, wait for the run to finish."""
    from django.db import connections

    from invoicing.billing.runs import queue_billing_run
    from invoicing.models import BillingRun, Operator

    connections.close_all()  # the parent's connection is not ours
    run = queue_billing_run(
        operator=Operator.objects.get(pk=operator_id),
        period=period,
        chunk_customers=CHUNK_CUSTOMERS,
    )
    deadline = time.monotonic() + 120
    while run.status == BillingRun.Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
        run.refresh_from_db()
    connections.close_all()
    os._exit(0 if run.status == BillingRun.Status.COMPLETED else 3)


def main() -> None:
    setup_django()
    from django.db import connections
    from django.db.models import Count

    from invoicing.models import BilledSession, BillingRun
    from sessions.models import ChargingSession
    from tests.bench.management.commands.bench_billing import Worker, _children
    from tests.factories import CompanyCustomerFactory

    rng = random.Random(SEED)
    print(
        f"seed {SEED}: {KILLS} kills, {CUSTOMERS} monthly customers x "
        f"{SESSIONS_PER_CUSTOMER} sessions a month, {CHUNK_CUSTOMERS} customers a chunk",
        flush=True,
    )
    operator = make_operator("Billing Kill CPO")
    customers = [
        CompanyCustomerFactory(operator=operator, billing_mode="monthly") for _ in range(CUSTOMERS)
    ]
    zone = ZoneInfo(operator.time_zone)
    context = get_context("fork")
    kills: dict[str, int] = {"coordinator": 0, "worker process": 0, "whole worker": 0}
    periods: list[date] = []
    worker = Worker(concurrency=2)
    worker.__enter__()
    began = time.monotonic()
    try:
        with worker.routing():
            period = FIRST_MONTH
            while sum(kills.values()) < KILLS:
                periods.append(period)
                start = datetime(period.year, period.month, 3, 8, tzinfo=zone)
                ingest(
                    operator,
                    customers,
                    per_customer=SESSIONS_PER_CUSTOMER,
                    start=start,
                    prefix=f"{period:%Y%m}",
                )
                connections.close_all()
                while sum(kills.values()) < KILLS:
                    coordinator = context.Process(target=coordinate, args=(operator.pk, period))
                    coordinator.start()
                    coordinator.join(rng.uniform(0, LONGEST_WAIT))
                    if coordinator.exitcode is not None:  # the run completed before the kill
                        break
                    victim = rng.choice(["coordinator", "worker process"])
                    if victim == "worker process" and rng.random() < WHOLE_WORKER_SHARE:
                        victim = "whole worker"
                    if victim == "coordinator":
                        os.kill(coordinator.pid, signal.SIGKILL)
                    elif victim == "worker process":
                        for pid in _children(worker.process.pid):
                            os.kill(pid, signal.SIGKILL)
                    else:
                        os.killpg(worker.process.pid, signal.SIGKILL)
                        worker.process.wait()
                    completed = BillingRun.objects.filter(
                        operator=operator, period=period, status=BillingRun.Status.COMPLETED
                    ).exists()
                    connections.close_all()
                    if not completed:  # a kill after the run finished is no point of the run
                        kills[victim] += 1
                    if victim == "whole worker":
                        worker = Worker(concurrency=2)
                        worker.__enter__()
                    if victim != "coordinator":
                        os.kill(coordinator.pid, signal.SIGKILL)
                    coordinator.join()
                # Resumed: the coordinator once more, left to finish.
                coordinator = context.Process(target=coordinate, args=(operator.pk, period))
                coordinator.start()
                coordinator.join()
                period = (period + timedelta(days=32)).replace(day=1)
                print(
                    f"  {period:%Y-%m}: {sum(kills.values())} kills so far "
                    f"({time.monotonic() - began:.0f} s)",
                    flush=True,
                )
    finally:
        worker.__exit__()

    runs = BillingRun.objects.filter(operator=operator)
    incomplete = runs.exclude(status=BillingRun.Status.COMPLETED).count()
    sessions = ChargingSession.objects.filter(operator=operator)
    twice = (
        BilledSession.objects.filter(session__operator=operator)
        .values("session_id")
        .annotate(c=Count("id"))
        .filter(c__gt=1)
        .count()
    )
    never = sessions.exclude(pk__in=BilledSession.objects.values("session_id")).count()
    documents, duplicates, gaps = gaps_and_duplicates(operator)
    killed = ", ".join(f"{v} {k}" for k, v in kills.items())
    ok = (
        sum(kills.values()) >= KILLS
        and twice == never == duplicates == gaps == incomplete == 0
        and documents == CUSTOMERS * len(periods)
    )
    report(
        f"killed billing runs: {sum(kills.values())} SIGKILLs ({killed}) over {len(periods)} "
        f"monthly runs, {n(sessions.count())} sessions, seed {SEED}: sessions billed twice "
        f"{twice}, never billed {never}, {n(documents)} documents, number duplicates "
        f"{duplicates}, gaps {gaps}",
        ok,
    )


if __name__ == "__main__":
    sys.exit(main())
