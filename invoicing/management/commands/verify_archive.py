"""Recompute the archive's hash chain and every archived file's SHA-256; report the first break."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from invoicing.archive.models import ArchiveEntry, ArchiveVerification
from invoicing.archive.verification import run_verification
from invoicing.models import Operator


class Command(BaseCommand):
    help = (
        "Verify the audit-proof archive: every entry's chain hash and every file's SHA-256. "
        "Exits non-zero with a sentence naming the first break."
    )

    def add_arguments(self, parser):
        parser.add_argument("--operator", type=int, help="Only this operator's archive (id).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, operator: int | None, no_progress: bool, **options):
        op = None
        if operator is not None:
            op = Operator.objects.filter(pk=operator).first()
            if op is None:
                raise CommandError(f"There is no operator with id {operator}.")
        entries = ArchiveEntry.objects.all()
        if op is not None:
            entries = entries.filter(operator=op)
        with tqdm(
            total=entries.count(),
            unit=" entries",
            disable=no_progress,
            file=self.stderr._out,
        ) as bar:
            verification = run_verification(operator=op, progress=bar.update)
        if verification.state == ArchiveVerification.State.BROKEN:
            raise CommandError(
                f"The archive is broken. {verification.message} "
                f"({verification.entries_checked} entries were intact before it.)"
            )
        self.stdout.write(self.style.SUCCESS(verification.message))
        if verification.expired_files:
            self.stdout.write(
                f"{verification.expired_files} files were removed after their retention date."
            )
