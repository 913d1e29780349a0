"""Write a month's DATEV export (booking batch and debtors, one ZIP) to a file (docs/datev.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.periods import parse_period
from cpo_portal.kernel.tenancy import Operator
from invoicing.accounting.datev.export import export_datev


class Command(BaseCommand):
    help = (
        "Export a month as a DATEV booking batch (EXTF Buchungsstapel) with the debtor master "
        "data, both in one ZIP: issued invoices, receipts and credit notes by issue date, "
        "payments by the day they were received."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", required=True, metavar="YYYY-MM", help="the month")
        parser.add_argument("--out", required=True, help="ZIP file to write")
        parser.add_argument("--operator", help="operator name (default: the only operator)")

    def handle(self, *args, period: str, out: str, operator: str | None, **options):
        target = Path(out)
        if target.is_dir():
            raise CommandError(f"--out {out} is a directory; give a file name.")
        if not target.parent.is_dir():
            raise CommandError(f"The directory of --out ({target.parent}) does not exist.")
        chosen = self._operator(operator)
        try:
            export = export_datev(operator=chosen, period=parse_period(period))
        except DomainError as error:
            raise CommandError(str(error)) from None
        # Written next to the target and renamed: a reader never sees half a file.
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed or removed below)
            dir=target.parent, prefix=f".{target.name}.", delete=False
        )
        try:
            with handle:
                handle.write(export.content)
            os.replace(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        self.stdout.write(
            f"{target}: {export.bookings} bookings and {export.debtors} debtors of {chosen} "
            f"for {period}."
        )

    @staticmethod
    def _operator(name: str | None) -> Operator:
        operators = Operator.objects.order_by("name")
        if name:
            operators = operators.filter(name=name)
            if not operators:
                raise CommandError(f"There is no operator named “{name}”.")
        found = list(operators[:2])
        if not found:
            raise CommandError("There is no operator yet; nothing to export.")
        if len(found) > 1:
            raise CommandError("There are several operators; say which one with --operator.")
        return found[0]
