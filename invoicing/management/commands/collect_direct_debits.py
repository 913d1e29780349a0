"""Collect due invoices by direct debit: `manage.py collect_direct_debits --date 2026-12-10`."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cpo_portal.kernel.errors import InvalidInput
from invoicing.models import Operator
from invoicing.payments.collections import collect
from invoicing.payments.models import CollectionRunState


class Command(BaseCommand):
    help = (
        "Write one pain.008 file per operator with every invoice due by the collection date of "
        "customers with an active SEPA mandate. Running again collects nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="The collection date, as YYYY-MM-DD.")
        parser.add_argument("--operator", type=int, help="Only this operator (id).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, date: str, operator: int | None, no_progress: bool, **options):
        collection_date = _parse_date(date)
        operators = Operator.objects.order_by("name")
        if operator is not None:
            operators = operators.filter(pk=operator)
            if not operators:
                raise CommandError(f"There is no operator with id {operator}.")
        for op in operators:
            with tqdm(
                desc=str(op), unit=" invoices", disable=no_progress, file=self.stderr._out
            ) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.n = done
                    bar.refresh()

                try:
                    run = collect(operator=op, collection_date=collection_date, progress=progress)
                except InvalidInput as error:
                    raise CommandError(f"{op}: {error}") from None
            if run.state == CollectionRunState.EMPTY:
                self.stdout.write(f"{op}: nothing is due for collection on {collection_date}.")
            else:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{op}: {run.collection_count} invoices ({run.first_count} FRST, "
                        f"{run.recurring_count} RCUR), {run.total} EUR, file {run.file.name}."
                    )
                )


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"“{value}” is not a date; give the collection date as YYYY-MM-DD."
        ) from None
