"""Monthly billing runs: every monthly customer's sessions of a closed month on one document.

A run is planned once per attempt: the customers who still have unbilled sessions in the month
are cut into chunks (at most `CHUNK_CUSTOMERS` customers or `CHUNK_SESSIONS` sessions). Each
chunk is billed in one transaction: reads are bounded by the chunk, documents, lines and links
are written in bulk, and the chunk's documents are numbered in one locked statement just before
commit, together with the chunk's done flag. A chunk that fails as a whole is retried customer
by customer, so one customer's bad data fails that customer, not the run. Running the period
again plans only what is still unbilled, so nothing is billed twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import DatabaseError, transaction
from django.db.models import Count, F
from django.utils import timezone

from cpo_portal.kernel.bulk import id_set
from cpo_portal.kernel.periods import add_months, period_bounds, today_for
from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.billing.models import BillingRun, BillingRunChunk, BillingRunError
from invoicing.documents import issue_hooks
from invoicing.documents.composition import (
    ChargeGroup,
    InvoicingError,
    SessionFacts,
    compose_document,
    customers_on_schedule,
    document_kind_for,
    profile_for,
)
from invoicing.documents.issuing import charge_groups, fit_recipient, store_drafts
from invoicing.documents.models import BilledSession, Document, DocumentOrigin
from invoicing.documents.selectors import never_billed
from invoicing.setup.models import InvoicingSettings
from invoicing.signals import billing_chunks_planned
from invoicing.tax.rules import load_table, vat_registrations
from sessions.models import ChargingSession

logger = logging.getLogger(__name__)

CHUNK_CUSTOMERS = 500
CHUNK_SESSIONS = 20_000
MONTHLY = InvoicingSettings.IssuingSchedule.MONTHLY


def _period_sessions(run: BillingRun):
    start, end, _first, _last = period_bounds(run.period, run.operator.time_zone)
    return ChargingSession.objects.filter(
        operator=run.operator,
        status=ChargingSession.Status.COMPLETED,
        priced_at__isnull=False,
        issuing_due=True,
        ended_at__gte=start,
        ended_at__lt=end,
    )


def _billable_sessions(run: BillingRun):
    return never_billed(_period_sessions(run))


# --- planning --------------------------------------------------------------------------------


def plan_billing_run(
    *,
    operator: Operator,
    period: date,
    chunk_customers: int = CHUNK_CUSTOMERS,
    chunk_sessions: int = CHUNK_SESSIONS,
) -> BillingRun:
    """Start (or resume) the run of a closed month: plan chunks over what is still unbilled."""
    period = period.replace(day=1)
    if period >= today_for(operator).replace(day=1):
        raise InvoicingError(
            f"{period:%Y-%m} is not over yet; only closed months are billed.", field="period"
        )
    settings = operator.invoicing_settings
    with transaction.atomic():
        run, _created = BillingRun.objects.get_or_create(operator=operator, period=period)
        run = (
            BillingRun.objects.select_for_update(of=("self",))
            .select_related("operator")
            .get(pk=run.pk)
        )
        run.attempts += 1
        run.errors.all().delete()
        customers = Customer.objects.filter(
            customers_on_schedule(settings=settings, schedule=MONTHLY), operator=operator
        )
        per_customer = (
            _billable_sessions(run)
            .filter(customer__in=customers)
            .values("customer_id")
            .annotate(sessions=Count("id"))
            .order_by("customer_id")
        )
        chunks: list[BillingRunChunk] = []
        current: list[int] = []
        current_sessions = 0
        for row in per_customer.iterator(chunk_size=5000):
            if current and (
                len(current) >= chunk_customers
                or current_sessions + row["sessions"] > chunk_sessions
            ):
                chunks.append(_chunk(run, len(chunks), current))
                current, current_sessions = [], 0
            current.append(row["customer_id"])
            current_sessions += row["sessions"]
        if current:
            chunks.append(_chunk(run, len(chunks), current))
        BillingRunChunk.objects.bulk_create(chunks)
        run.customers_total = sum(len(c.customer_ids) for c in chunks)
        run.customers_billed = run.customers_failed = 0
        run.documents_issued = run.sessions_billed = 0
        run.chunks_total = len(chunks)
        run.chunks_done = 0
        run.status = BillingRun.Status.RUNNING
        run.started_at = timezone.now()
        run.finished_at = None
        run.save()
    if not chunks:
        _finish_if_complete(run.pk)
        run.refresh_from_db()
    return run


def _chunk(run: BillingRun, index: int, customer_ids: list[int]) -> BillingRunChunk:
    return BillingRunChunk(run=run, attempt=run.attempts, index=index, customer_ids=customer_ids)


def pending_chunk_ids(run: BillingRun) -> list[int]:
    return list(
        run.chunks.filter(attempt=run.attempts, is_done=False)
        .order_by("index")
        .values_list("id", flat=True)
    )


# --- billing a chunk -------------------------------------------------------------------------


@dataclass
class ChunkResult:
    documents: int = 0
    sessions: int = 0
    customers_billed: int = 0
    errors: dict[int, str] | None = None


def bill_chunk(*, chunk_id: int, issue_date: date | None = None) -> ChunkResult | None:
    """Bill one chunk exactly once (a chunk run twice, or of an older attempt, does nothing);
    its documents are dated `issue_date` (default: today)."""
    chunk = BillingRunChunk.objects.select_related("run__operator__invoicing_settings").get(
        pk=chunk_id
    )
    run = chunk.run
    if chunk.is_done or chunk.attempt != run.attempts:
        return None
    try:
        with transaction.atomic():
            result = _bill_customers(run, chunk.customer_ids, issue_date)
            if not _close_chunk(chunk, result):
                transaction.set_rollback(True)
                return None
    except DatabaseError as exc:
        # Something in the chunk clashed (e.g. a session billed meanwhile): go one by one.
        logger.warning("%s failed as a whole (%s); billing its customers one by one", chunk, exc)
        result = ChunkResult(errors={})
        for customer_id in chunk.customer_ids:
            try:
                with transaction.atomic():
                    one = _bill_customers(run, [customer_id], issue_date)
            except DatabaseError as exc:
                one = ChunkResult(errors={customer_id: f"Not billed: {exc}"})
            result.documents += one.documents
            result.sessions += one.sessions
            result.customers_billed += one.customers_billed
            result.errors.update(one.errors or {})
        with transaction.atomic():
            _record_errors(run, result.errors)
            if not _close_chunk(chunk, result):
                return None
    _finish_if_complete(run.pk)
    return result


def _close_chunk(chunk: BillingRunChunk, result: ChunkResult) -> bool:
    closed = BillingRunChunk.objects.filter(pk=chunk.pk, is_done=False).update(
        is_done=True, done_at=timezone.now()
    )
    if not closed:
        return False
    run = BillingRun.objects.select_for_update().only("attempts").get(pk=chunk.run_id)
    if run.attempts != chunk.attempt:
        # The run was started again while this chunk was billing: its documents stand, but the
        # counters belong to the new attempt (documents and sessions are recounted at the end).
        return True
    BillingRun.objects.filter(pk=chunk.run_id).update(
        chunks_done=F("chunks_done") + 1,
        customers_billed=F("customers_billed") + result.customers_billed,
        customers_failed=F("customers_failed") + len(result.errors or {}),
        documents_issued=F("documents_issued") + result.documents,
        sessions_billed=F("sessions_billed") + result.sessions,
    )
    return True


def _record_errors(run: BillingRun, errors: dict[int, str] | None) -> None:
    if errors:
        BillingRunError.objects.bulk_create(
            [BillingRunError(run=run, customer_id=cid, message=msg) for cid, msg in errors.items()],
            ignore_conflicts=True,
        )


def _bill_customers(
    run: BillingRun, customer_ids: Iterable[int], issue_date: date | None = None
) -> ChunkResult:
    operator = run.operator
    settings = operator.invoicing_settings
    _start, _end, first_day, last_day = period_bounds(run.period, operator.time_zone)
    customers = Customer.objects.filter(
        customers_on_schedule(settings=settings, schedule=MONTHLY), operator=operator
    ).in_bulk(list(customer_ids))
    sessions: dict[int, list[SessionFacts]] = defaultdict(list)
    rows = list(
        _period_sessions(run)
        .filter(customer_id__in=id_set(customers))
        .order_by("customer_id", "ended_at", "id")
        .values_list(
            "customer_id",
            "id",
            "started_at",
            "ended_at",
            "energy_kwh",
            "evse__location__country",
            "currency",
        )
    )
    # Billed sessions looked up by id: an anti-join would hash every session ever billed.
    billed = set(
        BilledSession.objects.filter(session_id__in=id_set(row[1] for row in rows)).values_list(
            "session_id", flat=True
        )
    )
    for customer_id, *facts in rows:
        if facts[0] not in billed:
            sessions[customer_id].append(SessionFacts(*facts))
    session_ids = [s.session_id for facts in sessions.values() for s in facts]
    groups: dict[int, list[ChargeGroup]] = defaultdict(list)
    if session_ids:
        for group in charge_groups(session_ids, per_customer=True):
            groups[group.customer_id].append(group)

    profile = profile_for(operator=operator, settings=settings)
    issue_date = issue_date or today_for(operator)
    # Read once for the chunk, not once per document.
    tax_table = load_table()
    registrations = vat_registrations(operator)
    drafts = []
    errors: dict[int, str] = {}
    for customer_id, facts in sessions.items():
        customer = customers[customer_id]
        try:
            kind = document_kind_for(customer=customer, settings=settings)
            if kind is None:
                continue
            draft = compose_document(
                kind=kind,
                origin=DocumentOrigin.MONTHLY,
                customer=customer,
                settings=settings,
                profile=profile,
                groups=groups[customer_id],
                sessions=facts,
                issue_date=issue_date,
                period=(first_day, last_day),
                tax_table=tax_table,
                registrations=registrations,
            )
            fit_recipient(draft, customer=customer, settings=settings)
            # The e-invoice is built and validated now: a failing one holds this customer
            # (the run's error names the rules), not the chunk.
            issue_hooks.prepare(draft)
            drafts.append(draft)
        except InvoicingError as exc:
            errors[customer_id] = str(exc)
    _record_errors(run, errors)
    store_drafts(drafts, billing_run=run)
    return ChunkResult(
        documents=len(drafts),
        sessions=sum(len(d.session_ids) for d in drafts),
        customers_billed=len(drafts),
        errors=errors,
    )


def _finish_if_complete(run_id: int) -> None:
    run = BillingRun.objects.get(pk=run_id)
    if run.status != BillingRun.Status.RUNNING or run.chunks_done < run.chunks_total:
        return
    _recount(run)
    status = (
        BillingRun.Status.COMPLETED_WITH_ERRORS
        if run.errors.exists()
        else BillingRun.Status.COMPLETED
    )
    BillingRun.objects.filter(pk=run_id, status=BillingRun.Status.RUNNING).update(
        status=status, finished_at=timezone.now()
    )


def _recount(run: BillingRun) -> None:
    """The attempt's documents and sessions counted from what is stored (exact after a crash);
    earlier attempts' documents are the run's, not this attempt's."""
    run = BillingRun.objects.only("started_at").get(pk=run.pk)
    BillingRun.objects.filter(pk=run.pk).update(
        documents_issued=attempt_documents(run).count(),
        sessions_billed=BilledSession.objects.filter(document__in=attempt_documents(run)).count(),
        customers_failed=run.errors.count(),
    )


def attempt_documents(run: BillingRun):
    """The documents the run's latest attempt issued (those of earlier attempts stand too)."""
    return Document.objects.filter(billing_run=run, created_at__gte=run.started_at)


def unbilled_sessions(run: BillingRun):
    """The month's priced sessions of the operator no document bills yet, whoever's they are."""
    return _billable_sessions(run)


# --- running ---------------------------------------------------------------------------------


def run_billing(
    *,
    operator: Operator,
    period: date,
    progress: Callable[[BillingRun], None] | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
    issue_date: date | None = None,
) -> BillingRun:
    """Bill a closed month in this process, chunk by chunk (the command's default); the
    documents are dated `issue_date` (default: today; the demo replays past months' runs)."""
    if issue_date is not None and issue_date < add_months(period.replace(day=1), 1):
        raise InvoicingError(
            f"Documents of {period:%Y-%m} cannot be issued on {issue_date}, before the month "
            "is over.",
            field="issue_date",
        )
    run = plan_billing_run(operator=operator, period=period, chunk_customers=chunk_customers)
    for chunk_id in pending_chunk_ids(run):
        bill_chunk(chunk_id=chunk_id, issue_date=issue_date)
        if progress:
            run.refresh_from_db()
            progress(run)
    run.refresh_from_db()
    return run


def queue_billing_run(
    *, operator: Operator, period: date, chunk_customers: int = CHUNK_CUSTOMERS
) -> BillingRun:
    """Plan a run and fan its chunks out to the Celery workers once the plan is committed."""
    run = plan_billing_run(operator=operator, period=period, chunk_customers=chunk_customers)
    billing_chunks_planned.send(sender=BillingRun, chunk_ids=pending_chunk_ids(run))
    return run


def rebill_customer(*, run: BillingRun, customer: Customer) -> ChunkResult:
    """Bill one customer again within a run (after their invoice details were fixed)."""
    with transaction.atomic():
        BillingRunError.objects.filter(run=run, customer=customer).delete()
        result = _bill_customers(run, [customer.pk])
        BillingRun.objects.filter(pk=run.pk).update(
            customers_billed=F("customers_billed") + result.customers_billed
        )
        _recount(run)
    run.refresh_from_db()
    if run.status == BillingRun.Status.COMPLETED_WITH_ERRORS and not run.errors.exists():
        BillingRun.objects.filter(pk=run.pk).update(status=BillingRun.Status.COMPLETED)
        run.refresh_from_db()
    return result


@dataclass
class RebillResult:
    """What billing a run's failed customers again did."""

    tried: int = 0
    customers_billed: int = 0
    documents: int = 0
    # Customer (as shown) -> why they are still not billed, in customer order.
    failures: dict[str, str] = field(default_factory=dict)


def rebill_failed_customers(*, run: BillingRun) -> RebillResult:
    """Bill each customer with an error in the run again (e.g. after their invoice details were
    fixed), one by one: a customer who fails again keeps an error and does not stop the rest."""
    errors = list(run.errors.select_related("customer").order_by("customer_id"))
    result = RebillResult(tried=len(errors))
    for error in errors:
        customer = error.customer
        try:
            billed = rebill_customer(run=run, customer=customer)
        except (InvoicingError, DatabaseError) as exc:
            # The run's own chunks treat a database refusal as that customer's failure too.
            logger.warning("Re-billing %s in %s failed: %s", customer, run, exc)
            result.failures[str(customer)] = str(exc)
            continue
        result.customers_billed += billed.customers_billed
        result.documents += billed.documents
        if billed.errors and customer.pk in billed.errors:
            result.failures[str(customer)] = billed.errors[customer.pk]
    return result
