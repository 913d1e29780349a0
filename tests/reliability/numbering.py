"""Figure 1: 32 processes issuing 16,000 documents at once get unique, gap-free numbers.

Each process issues its share of the sessions one document per transaction (as ingest's
per-session issuing does) and then races its neighbour for part of the neighbour's share, so
processes also compete for the same sessions. Afterwards: every session billed once, every
number of the series used exactly once from 1 up.
"""

from __future__ import annotations

import os
import random
import sys
import time
from multiprocessing import get_context

from tests.reliability.common import (
    EPOCH,
    gaps_and_duplicates,
    ingest,
    make_operator,
    n,
    report,
    setup_django,
    sink_tasks,
)

PROCESSES = int(os.environ.get("RELIABILITY_PROCESSES", "32"))
DOCUMENTS = int(os.environ.get("RELIABILITY_DOCUMENTS", "16000"))
CUSTOMERS = 100
RACED = 0.1  # the share of a neighbour's sessions each process also tries to bill
SEED = 16


def issue(session_ids: list[int], start, results) -> None:
    """One process: wait for the others, then issue session by session; puts its count."""
    from django.db import connections

    from invoicing.documents.issuing import issue_session_documents

    connections.close_all()  # the forked parent's connection is not ours
    start.wait()
    issued = 0
    for session_id in session_ids:
        issued += len(issue_session_documents(session_ids=[session_id]))
    connections.close_all()
    results.put(issued)


def main() -> None:
    setup_django()
    sink_tasks()
    from django.db import connections

    from invoicing.models import BilledSession, Document
    from tests.factories import CustomerFactory

    operator = make_operator("Numbering CPO")
    customers = [
        CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")
        for _ in range(CUSTOMERS)
    ]
    # Issuing is queued by ingest on commit; here the processes issue, not the workers.
    sessions = ingest(
        operator, customers, per_customer=DOCUMENTS // CUSTOMERS, start=EPOCH, prefix="num"
    )
    rng = random.Random(SEED)
    shares = [sessions[p::PROCESSES] for p in range(PROCESSES)]
    batches = []
    for p, share in enumerate(shares):
        neighbour = shares[(p + 1) % PROCESSES]
        raced = rng.sample(neighbour, int(len(neighbour) * RACED))
        batches.append(share + raced)
    connections.close_all()

    context = get_context("fork")
    start, results = context.Barrier(PROCESSES + 1), context.Queue()
    processes = [context.Process(target=issue, args=(b, start, results)) for b in batches]
    for process in processes:
        process.start()
    start.wait()
    began = time.monotonic()
    issued = [results.get() for _ in processes]
    seconds = time.monotonic() - began
    for process in processes:
        process.join()

    documents, duplicates, gaps = gaps_and_duplicates(operator)
    billed = BilledSession.objects.filter(document__operator=operator).count()
    never = len(sessions) - billed
    ok = (
        documents == len(sessions) == sum(issued)
        and duplicates == 0
        and gaps == 0
        and never == 0
        and Document.objects.filter(operator=operator).count() == len(sessions)
    )
    report(
        f"concurrent numbering: {PROCESSES} processes, {n(documents)} documents: "
        f"duplicates {duplicates}, gaps {gaps}, sessions unbilled {never} "
        f"({seconds:.0f} s, {documents / seconds:,.0f} documents/s)",
        ok,
    )


if __name__ == "__main__":
    sys.exit(main())
