"""Write an accounting export to a file, e.g. from cron or a scheduler (docs/exports.md)."""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cpo_portal.kernel.exports import writers
from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import get_export


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be a date written YYYY-MM-DD, not '{value}'.") from None


class Command(BaseCommand):
    help = (
        "Export invoices, invoice lines, sessions with breakdown or customers as CSV or XLSX. "
        "Dates are inclusive: invoices and lines by issue date, sessions by end, customers by "
        "creation (both in TIME_ZONE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--what", required=True, choices=ExportJob.What.values)
        parser.add_argument(
            "--format",
            choices=ExportJob.Format.values,
            help="csv or xlsx; taken from the --output file's extension when left out.",
        )
        parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day")
        parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day")
        parser.add_argument(
            "--output", required=True, help="file to write (replaced when complete)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, what, format, start, end, output, no_progress, **options):
        first = parse_day(start, "--from")
        last = parse_day(end, "--to")
        if first and last and first > last:
            raise CommandError(f"--from ({first}) is after --to ({last}); nothing to export.")
        target = Path(output)
        if target.is_dir():
            raise CommandError(f"--output {output} is a directory; give a file name.")
        fmt = format or target.suffix.lstrip(".").lower()
        if fmt not in ExportJob.Format.values:
            raise CommandError(
                f"Say --format csv or --format xlsx (the output '{output}' does not tell)."
            )
        if not target.parent.is_dir():
            raise CommandError(f"The directory of --output ({target.parent}) does not exist.")

        export = get_export(what)
        queryset = export.between(export.default_queryset(), first, last)
        total = writers.count_rows(what=what, queryset=queryset)
        bar = tqdm(
            total=total, unit="rows", desc=f"{what} ({fmt})", file=sys.stderr, disable=no_progress
        )

        def progress(rows: int) -> None:
            bar.update(rows - bar.n)

        # Written next to the target and renamed at the end: a reader never sees half a file.
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed or removed below)
            dir=target.parent, prefix=f".{target.name}.", delete=False
        )
        try:
            with handle:
                rows = writers.write_export(
                    what=what, fmt=fmt, stream=handle, queryset=queryset, progress=progress
                )
            os.replace(handle.name, target)
        except BaseException:
            os.unlink(handle.name)
            raise
        finally:
            bar.close()
        self.stdout.write(f"{rows} rows of {what} written to {target}.")
