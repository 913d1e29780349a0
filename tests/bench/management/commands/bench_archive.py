"""Benchmark: append 100,000 entries to the audit-proof archive, then verify them all.

Runs against a scratch database (archive entries can never be deleted) and a temporary archive
folder, both removed afterwards. Entries are appended in batches, as a billing chunk's documents
are; verification recomputes every chain hash and re-reads every file, as `verify_archive` does.
Target: verifying 100,000 entries takes under 60 s.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings

from invoicing.archive.archiving import ArchiveItem, archive_items
from invoicing.archive.verification import verify_archive
from invoicing.models import ArchiveKind
from tests.bench.fixtures import create_operator
from tests.bench.report import verdict
from tests.bench.scratch import scratch_database

TARGET_VERIFY_S = 60.0
ENTRIES = 100_000
BATCH = 1000


class Command(BaseCommand):
    help = "Archive 100,000 small files (entries/s) and verify the whole chain (target < 60 s)."

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=ENTRIES)

    def handle(self, *args, entries: int, **options):
        if entries < 1:
            raise CommandError("--entries must be at least 1.")
        with (
            tempfile.TemporaryDirectory(prefix="bench-archive-") as folder,
            scratch_database("bench_archive") as db,
            override_settings(
                STORAGES={
                    **settings.STORAGES,
                    "archive": {
                        "BACKEND": "invoicing.archive.storage.WriteOnceFileSystemStorage",
                        "OPTIONS": {"location": str(Path(folder) / "archive")},
                    },
                }
            ),
        ):
            self.stdout.write(f"Scratch database {db} on {connection.vendor}.")
            self._run(entries)

    def _run(self, entries: int) -> None:
        operator = create_operator()
        started = time.perf_counter()
        for start in range(0, entries, BATCH):
            archive_items(
                operator=operator,
                items=[
                    ArchiveItem(
                        kind=ArchiveKind.SESSION_PAYLOAD,
                        reference=f"INV-{n // 100:06d} session BENCH:{n}",
                        source_key=f"session:{n}",
                        # About the size of a CDR as received.
                        content=(
                            f'{{"source_id": "BENCH-{n}", "energy_kwh": "12.345"}}' * 8
                        ).encode(),
                        record_date=date(2026, 11, 30),
                        content_type="application/json",
                    )
                    for n in range(start, min(start + BATCH, entries))
                ],
            )
        archived = time.perf_counter() - started
        self.stdout.write(
            f"Archived {entries} entries in {archived:.1f} s ({entries / archived:.0f} entries/s, "
            f"batches of {BATCH})."
        )
        started = time.perf_counter()
        result = verify_archive(operator=operator)
        verified = time.perf_counter() - started
        if not result.intact or result.entries != entries:
            raise CommandError(f"The benchmark archive did not verify: {result.first_break}")
        self.stdout.write(
            f"Verified {result.entries} entries and {result.files} files in {verified:.1f} s "
            f"({result.entries / verified:.0f} entries/s)."
        )
        scaled = verified * ENTRIES / entries
        self.stdout.write(
            verdict(
                self.style,
                within=scaled < TARGET_VERIFY_S,
                met=f"Verify target met: {scaled:.1f} s for {ENTRIES} entries (< 60 s).",
                missed=f"Verify target missed: {scaled:.1f} s for {ENTRIES} entries (> 60 s).",
            )
        )
