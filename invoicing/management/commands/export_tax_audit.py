"""Write a period's tax-audit export (GDPdU "Z3": CSV tables and index.xml) to a ZIP file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpo_portal.kernel.errors import InvalidInput
from invoicing.accounting.tax_audit import parse_audit_period, write_tax_audit_export
from invoicing.models import Operator


class Command(BaseCommand):
    help = (
        "Export a month (YYYY-MM) or a year (YYYY) for a tax audit: documents, lines, VAT, "
        "payments and sessions as GDPdU CSV tables with index.xml, in one ZIP."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, help="YYYY-MM or YYYY.")
        parser.add_argument("--out", required=True, help="The ZIP file to write.")
        parser.add_argument("--operator", type=int, help="Operator id (needed when several).")

    def handle(self, *args, period: str, out: str, operator: int | None, **options):
        try:
            audit_period = parse_audit_period(period)
        except InvalidInput as exc:
            raise CommandError(str(exc)) from exc
        if operator is not None:
            op = Operator.objects.filter(pk=operator).first()
            if op is None:
                raise CommandError(f"There is no operator with id {operator}.")
        else:
            operators = list(Operator.objects.order_by("pk")[:2])
            if len(operators) != 1:
                raise CommandError(
                    "Name the operator with --operator (ids: "
                    + ", ".join(str(pk) for pk in Operator.objects.values_list("pk", flat=True))
                    + ")."
                    if operators
                    else "There is no operator yet."
                )
            op = operators[0]
        path = Path(out)
        if not path.parent.is_dir():
            raise CommandError(f"The folder {path.parent} does not exist.")
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            counts = write_tax_audit_export(operator=op, period=audit_period, out=handle)
        partial.replace(path)
        summary = ", ".join(f"{count} {name}" for name, count in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Wrote {path} for {op}, {period}: {summary}."))
