"""Bill a closed month for every monthly customer: `manage.py run_billing --period 2026-10`."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cpo_portal.kernel.periods import InvalidPeriod, parse_period
from invoicing.billing.runs import CHUNK_CUSTOMERS, queue_billing_run, run_billing
from invoicing.documents.composition import InvoicingError
from invoicing.models import BillingRun, Operator


class Command(BaseCommand):
    help = (
        "Bill every customer on the monthly schedule for a closed month. Running a period "
        "again bills only what is still unbilled (resume after a crash)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="The month to bill, as YYYY-MM.")
        parser.add_argument(
            "--operator", help="Operator name (default: the only operator, or all of them)."
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Fan the chunks out to the Celery workers and follow their progress.",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="With --queue: return once queued."
        )
        parser.add_argument(
            "--chunk-customers",
            type=int,
            default=CHUNK_CUSTOMERS,
            help=f"Customers billed per transaction (default {CHUNK_CUSTOMERS}).",
        )

    def handle(self, *args, period: str, operator: str | None, queue: bool, no_wait: bool, **o):
        self.chunk_customers = o["chunk_customers"]
        if self.chunk_customers < 1:
            raise CommandError("--chunk-customers must be at least 1.")
        try:
            month = parse_period(period)
        except InvalidPeriod as exc:
            raise CommandError(str(exc)) from None
        operators = Operator.objects.select_related("invoicing_settings").order_by("name")
        if operator:
            operators = operators.filter(name=operator)
            if not operators:
                raise CommandError(f"There is no operator named “{operator}”.")
        failed = False
        for op in operators:
            try:
                run = self._bill(op, month, queue=queue, wait=not no_wait)
            except InvoicingError as exc:
                raise CommandError(f"{op}: {exc}") from None
            self.stdout.write(self._summary(run))
            for error in run.errors.select_related("customer")[:20]:
                self.stdout.write(f"  {error.customer} (#{error.customer_id}): {error.message}")
            failed = failed or run.status == BillingRun.Status.COMPLETED_WITH_ERRORS
        if failed:
            raise CommandError("Some customers were not billed; fix their data and run again.")

    def _bill(self, operator: Operator, month, *, queue: bool, wait: bool) -> BillingRun:
        label = f"{operator} {month:%Y-%m}"
        if not queue:
            with tqdm(desc=label, unit="chunk", file=sys.stderr, total=None) as bar:

                def progress(run: BillingRun) -> None:
                    bar.total = run.chunks_total
                    bar.n = run.chunks_done
                    bar.set_postfix(documents=run.documents_issued, refresh=False)
                    bar.refresh()

                return run_billing(
                    operator=operator,
                    period=month,
                    progress=progress,
                    chunk_customers=self.chunk_customers,
                )
        run = queue_billing_run(
            operator=operator, period=month, chunk_customers=self.chunk_customers
        )
        if not wait:
            return run
        with tqdm(desc=label, unit="chunk", file=sys.stderr, total=run.chunks_total) as bar:
            while run.status == BillingRun.Status.RUNNING:
                time.sleep(0.5)
                run.refresh_from_db()
                bar.n = run.chunks_done
                bar.set_postfix(documents=run.documents_issued, refresh=False)
                bar.refresh()
        return run

    def _summary(self, run: BillingRun) -> str:
        took = f" in {run.duration.total_seconds():.1f} s" if run.duration else ""
        text = (
            f"{run}: {run.get_status_display().lower()}{took}; attempt {run.attempts}: "
            f"{run.customers_total} customers to bill, {run.customers_billed} billed, "
            f"{run.customers_failed} failed, {run.documents_issued} documents, "
            f"{run.sessions_billed} sessions ({run.documents.count()} documents in all attempts)."
        )
        if run.status == BillingRun.Status.COMPLETED:
            return self.style.SUCCESS(text)
        if run.status == BillingRun.Status.COMPLETED_WITH_ERRORS:
            return self.style.WARNING(text)
        return text
