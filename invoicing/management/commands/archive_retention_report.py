"""Report, per operator and kind, what the archive holds, what a legal hold keeps and what may
be deleted because its retention date has passed. Nothing is deleted."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from invoicing.archive.retention import deletable_entries, retention_report
from invoicing.models import Operator


class Command(BaseCommand):
    help = (
        "What the archive may delete: entries past their retention date and under no legal "
        "hold, per operator and kind (--list names them). Deletes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--operator", type=int, help="Only this operator (id).")
        parser.add_argument(
            "--date", dest="as_of", help="Report as of this day (YYYY-MM-DD; default today)."
        )
        parser.add_argument(
            "--list", dest="list_entries", action="store_true", help="List the deletable entries."
        )

    def handle(self, *args, operator: int | None, as_of: str | None, list_entries: bool, **options):
        op = None
        if operator is not None:
            op = Operator.objects.filter(pk=operator).first()
            if op is None:
                raise CommandError(f"There is no operator with id {operator}.")
        today = timezone.localdate()
        if as_of:
            try:
                today = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(f"“{as_of}” is not a date; write it as YYYY-MM-DD.") from None
        rows = retention_report(operator=op, today=today)
        if not rows:
            self.stdout.write("The archive is empty.")
            return
        self.stdout.write(f"Retention as of {today:%Y-%m-%d}:")
        for row in rows:
            oldest = row["oldest_retain_until"]
            self.stdout.write(
                f"  {row['operator']} · {row['kind'].label}: {row['entries']} entries, "
                f"{row['held']} under legal hold, {row['may_be_deleted']} may be deleted"
                + (f" (retention ended {oldest:%Y-%m-%d} or later)" if oldest else "")
            )
        if list_entries:
            for entry in deletable_entries(operator=op, today=today).order_by(
                "operator", "sequence"
            ):
                self.stdout.write(
                    f"  #{entry.sequence} {entry.operator_id} {entry.kind} {entry.reference} "
                    f"retained until {entry.retain_until:%Y-%m-%d}"
                )
