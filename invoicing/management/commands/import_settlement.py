"""Import a terminal vendor's daily settlement file (CSV)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cpo_portal.kernel.errors import InvalidInput
from invoicing.models import Operator
from invoicing.terminals.settlement import import_settlement


class Command(BaseCommand):
    help = (
        "Import a terminal vendor's settlement CSV (columns mapped per vendor, docs/receipts.md); "
        "known transactions change nothing, refused rows are listed with their reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The settlement CSV.")
        parser.add_argument("--vendor", required=True, help="The vendor whose layout it has.")
        parser.add_argument("--operator", type=int, required=True, help="Operator id.")

    def handle(self, *args, file: str, vendor: str, operator: int, **options):
        op = Operator.objects.filter(pk=operator).first()
        if op is None:
            raise CommandError(f"There is no operator with id {operator}.")
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"The file {file} cannot be read: {exc}.") from None
        try:
            report = import_settlement(
                text,
                operator=op,
                vendor=vendor,
                progress=lambda rows: tqdm(rows, desc="Settlement", unit="row"),
            )
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        for reason in report.refused:
            self.stderr.write(reason)
        self.stdout.write(
            f"{report.rows} rows: {report.created} new, {report.known} already known, "
            f"{len(report.refused)} refused."
        )
        if report.refused:
            raise CommandError(f"{len(report.refused)} row(s) refused; see above.")
