"""Checking the archive: recompute every entry's chain hash and every file's SHA-256.

The first break is reported in a sentence: an entry whose fields no longer give its hash (a
row changed), an entry that does not follow the one before it (a row removed or inserted), a
chain head that does not match the last entry (entries cut off the end), or a file that is
missing or whose bytes changed. A file may be missing only once its retention date has passed
and no legal hold keeps it: that file was deleted lawfully and is counted, not reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db.models import Q
from django.utils import timezone

from cpo_portal.kernel.tenancy import Operator
from invoicing.archive.archiving import archive_storage
from invoicing.archive.chain import HASHED_FIELDS, entry_hash
from invoicing.archive.models import GENESIS_HASH, ArchiveChain, ArchiveEntry, ArchiveVerification
from invoicing.archive.retention import held_filter

CHUNK = 2000
READ_BLOCK = 1024 * 1024


@dataclass
class VerifyResult:
    entries: int = 0
    files: int = 0
    expired: int = 0
    first_break: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _file_digest(storage, name: str) -> str | None:
    try:
        handle = storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        return None
    digest = hashlib.sha256()
    with handle:
        while block := handle.read(READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _describe(operator: Operator, row: dict) -> str:
    return f"Entry #{row['sequence']} of {operator} ({row['kind']} {row['reference']})"


def _verify_operator(
    operator: Operator, result: VerifyResult, *, today: date, progress: Callable[[int], None]
) -> None:
    storage = archive_storage()
    held = held_filter(operator)
    held_ids = (
        set(ArchiveEntry.objects.filter(held).values_list("pk", flat=True))
        if held is not None
        else set()
    )
    checked: dict[str, str | None] = {}
    previous_hash, expected_sequence = GENESIS_HASH, 1
    fields = ("pk", *HASHED_FIELDS, "previous_hash", "entry_hash")
    rows = (
        ArchiveEntry.objects.filter(operator=operator)
        .order_by("sequence")
        .values(*fields)
        .iterator(chunk_size=CHUNK)
    )
    pending = 0
    for row in rows:
        where = _describe(operator, row)
        if row["sequence"] != expected_sequence:
            result.first_break = (
                f"{where} follows entry #{expected_sequence - 1}: entries "
                f"#{expected_sequence} to #{row['sequence'] - 1} are missing from the database."
                if row["sequence"] > expected_sequence
                else f"{where} repeats a sequence number: a row was inserted."
            )
            return
        if row["previous_hash"] != previous_hash:
            result.first_break = (
                f"{where} does not point to the entry before it (its previous hash is "
                f"{row['previous_hash'][:12]}…, that entry's hash is {previous_hash[:12]}…)."
            )
            return
        recomputed = entry_hash(previous_hash, tuple(row[name] for name in HASHED_FIELDS))
        if recomputed != row["entry_hash"]:
            result.first_break = (
                f"{where} was changed after it was archived: its fields no longer give its "
                f"recorded hash {row['entry_hash'][:12]}…."
            )
            return
        name = row["storage_name"]
        if name not in checked:
            checked[name] = _file_digest(storage, name)
            result.files += 1
        digest = checked[name]
        if digest is None:
            if row["retain_until"] < today and row["pk"] not in held_ids:
                result.expired += 1
            else:
                result.first_break = (
                    f"The file of {where} is missing from the archive storage ({name}), "
                    f"though it must be kept until {row['retain_until']:%Y-%m-%d}."
                )
                return
        elif digest != row["sha256"]:
            result.first_break = (
                f"The file of {where} was changed: its SHA-256 is {digest[:12]}…, the archive "
                f"recorded {row['sha256'][:12]}…."
            )
            return
        previous_hash, expected_sequence = row["entry_hash"], expected_sequence + 1
        result.entries += 1
        pending += 1
        if pending == CHUNK:
            progress(pending)
            pending = 0
    progress(pending)
    head = ArchiveChain.objects.filter(operator=operator).first()
    head_sequence, head_hash = (head.sequence, head.head_hash) if head else (0, GENESIS_HASH)
    if (head_sequence, head_hash) != (expected_sequence - 1, previous_hash):
        result.first_break = (
            f"The archive of {operator} ends at entry #{expected_sequence - 1}, but its chain "
            f"head records {head_sequence} entries ending in {head_hash[:12]}…: "
            "entries were removed from the end."
        )


def operators_to_verify(operator: Operator | None = None):
    if operator is not None:
        return [operator]
    with_entries = Q(pk__in=ArchiveChain.objects.values("operator_id")) | Q(
        pk__in=ArchiveEntry.objects.values("operator_id")
    )
    return list(Operator.objects.filter(with_entries).order_by("pk"))


def verify_archive(
    *,
    operator: Operator | None = None,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Recompute the chain and every file's hash (per operator); stops at the first break."""
    today = today or timezone.localdate()
    result = VerifyResult()
    for op in operators_to_verify(operator):
        _verify_operator(op, result, today=today, progress=progress or (lambda n: None))
        if result.first_break:
            break
    return result


def run_verification(
    *,
    operator: Operator | None = None,
    requested_by=None,
    verification: ArchiveVerification | None = None,
    progress: Callable[[int], None] | None = None,
) -> ArchiveVerification:
    """Verify the archive and record the run (state, counts, first break) for the admin."""
    if verification is None:
        verification = ArchiveVerification.objects.create(
            operator=operator, requested_by=requested_by
        )
    result = verify_archive(operator=verification.operator, progress=progress)
    verification.state = (
        ArchiveVerification.State.INTACT if result.intact else ArchiveVerification.State.BROKEN
    )
    verification.entries_checked = result.entries
    verification.files_checked = result.files
    verification.expired_files = result.expired
    verification.message = result.first_break or (
        f"Intact: {result.entries} entries chained, {result.files} files match their SHA-256."
    )
    verification.finished_at = timezone.now()
    verification.save()
    return verification
