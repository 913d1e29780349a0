"""Load euro reference rates: `manage.py import_exchange_rates eurofxref-daily.xml` (or a URL)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from invoicing.tax.exchange_rates import ECB_SOURCE, RateFileError, import_ecb_rates

MAX_BYTES = 50 * 1024 * 1024  # eurofxref-hist.xml is about 6 MB
TIMEOUT_SECONDS = 30


class Command(BaseCommand):
    help = (
        "Import the ECB's euro reference rates from an eurofxref XML file or URL (daily or "
        "historical). Documents use the stored rates; nothing is fetched when they are made."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "location",
            help="A file path, or an https URL such as "
            "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml",
        )
        parser.add_argument(
            "--source", default=ECB_SOURCE, help=f"Printed with the rate (default: {ECB_SOURCE})."
        )

    def handle(self, *args, location: str, source: str, **options):
        data = self._read(location)
        try:
            result = import_ecb_rates(data, source=source)
        except RateFileError as exc:
            raise CommandError(f"Nothing was imported from {location}: {exc}") from None
        self.stdout.write(
            f"Imported {result.days} day(s) of rates: {result.created} new, "
            f"{result.updated} updated."
        )

    def _read(self, location: str) -> bytes:
        if location.startswith(("http://", "https://")):
            try:
                with urllib.request.urlopen(location, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only, checked above
                    return response.read(MAX_BYTES + 1)[:MAX_BYTES]
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise CommandError(f"Could not download {location}: {exc}.") from None
        path = Path(location)
        if not path.is_file():
            raise CommandError(f"{location} is not a file (give a path or an https URL).")
        if path.stat().st_size > MAX_BYTES:
            raise CommandError(f"{location} is larger than {MAX_BYTES // 1024 // 1024} MB.")
        return path.read_bytes()
