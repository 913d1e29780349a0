"""Appending to the archive: store each file once under its SHA-256, then chain its entry.

Several workers archive at once. The file is written first (content-addressed, so a file
without an entry is harmless); the entries are appended while the operator's chain head row is
locked (``SELECT … FOR UPDATE``), so they queue up in one line and the chain never forks; a
unique constraint on the previous hash refuses a fork even from SQL that skips the lock.
Archiving the same source twice returns the entry it already has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from cpo_portal.kernel.tenancy import Operator
from invoicing.archive.chain import hash_of
from invoicing.archive.models import ArchiveChain, ArchiveEntry, ArchiveKind
from invoicing.archive.retention import retain_until
from invoicing.archive.storage import ArchiveOverwriteError

STORAGE_ALIAS = "archive"


class ArchiveError(Exception):
    """Something could not be archived; the message says what and why."""


@dataclass(frozen=True)
class ArchiveItem:
    """One file to archive: what it is, what it belongs to, and the day it was recorded."""

    kind: str
    reference: str
    source_key: str
    content: bytes
    record_date: date
    content_type: str = "application/octet-stream"


def archive_storage():
    return storages[STORAGE_ALIAS]


def storage_name(*, operator_id: int, digest: str) -> str:
    """Where a file is stored: by operator and its SHA-256 (identical files are stored once)."""
    return f"{operator_id}/{digest[:2]}/{digest[2:4]}/{digest}"


def _store(*, name: str, data: bytes, until: date) -> None:
    storage = archive_storage()
    if hasattr(storage, "save_once"):
        storage.save_once(name, data, retain_until=until)
        return
    if storage.exists(name):
        return
    if storage.save(name, ContentFile(data)) != name:
        raise ArchiveOverwriteError(f"The storage renamed archive file {name}.")


def _locked_head(operator: Operator) -> ArchiveChain:
    head = ArchiveChain.objects.select_for_update().filter(operator=operator).first()
    if head is None:
        # The first entry of an operator: create the head; a concurrent creator waits on it.
        ArchiveChain.objects.bulk_create([ArchiveChain(operator=operator)], ignore_conflicts=True)
        head = ArchiveChain.objects.select_for_update().get(operator=operator)
    return head


def archive_items(*, operator: Operator, items: Sequence[ArchiveItem]) -> list[ArchiveEntry]:
    """Archive files not archived yet (by source) and chain their entries; returns the entries
    of all items, in order, whether archived now or before."""
    for item in items:
        if item.kind not in ArchiveKind.values:
            raise ArchiveError(f"Unknown archive kind “{item.kind}”.")
    keys = [item.source_key for item in items]
    existing = dict(
        ArchiveEntry.objects.filter(operator=operator, source_key__in=keys).values_list(
            "source_key", "pk"
        )
    )
    pending: dict[str, tuple[ArchiveItem, str, date]] = {}
    for item in items:
        if item.source_key in existing or item.source_key in pending:
            continue
        digest = hashlib.sha256(item.content).hexdigest()
        until = retain_until(country=operator.country, kind=item.kind, record_date=item.record_date)
        _store(
            name=storage_name(operator_id=operator.pk, digest=digest),
            data=item.content,
            until=until,
        )
        pending[item.source_key] = (item, digest, until)
    if pending:
        with transaction.atomic():
            head = _locked_head(operator)
            # Another worker may have archived some of them while this one waited for the lock.
            done = set(
                ArchiveEntry.objects.filter(
                    operator=operator, source_key__in=list(pending)
                ).values_list("source_key", flat=True)
            )
            now = timezone.now()
            entries = []
            for key, (item, digest, until) in pending.items():
                if key in done:
                    continue
                entry = ArchiveEntry(
                    operator=operator,
                    sequence=head.sequence + 1,
                    kind=item.kind,
                    reference=item.reference[:200],
                    source_key=key,
                    content_type=item.content_type,
                    sha256=digest,
                    size=len(item.content),
                    storage_name=storage_name(operator_id=operator.pk, digest=digest),
                    record_date=item.record_date,
                    retain_until=until,
                    archived_at=now,
                    previous_hash=head.head_hash,
                )
                entry.entry_hash = hash_of(entry, head.head_hash)
                head.sequence, head.head_hash = entry.sequence, entry.entry_hash
                entries.append(entry)
            if entries:
                ArchiveEntry.objects.bulk_create(entries)
                ArchiveChain.objects.filter(pk=head.pk).update(
                    sequence=head.sequence, head_hash=head.head_hash, updated_at=now
                )
    by_key = {
        entry.source_key: entry
        for entry in ArchiveEntry.objects.filter(operator=operator, source_key__in=keys)
    }
    return [by_key[key] for key in keys]


def archive_file(
    *,
    operator: Operator,
    kind: str,
    reference: str,
    content: bytes,
    source_key: str,
    record_date: date,
    content_type: str = "application/octet-stream",
) -> ArchiveEntry:
    """Archive one file (an e-invoice XML, a booking batch…) once per source key.

    `reference` is what an auditor searches for (a document number); `record_date` starts the
    retention period (the issue date of the document).
    """
    (entry,) = archive_items(
        operator=operator,
        items=[
            ArchiveItem(
                kind=kind,
                reference=reference,
                source_key=source_key,
                content=content,
                record_date=record_date,
                content_type=content_type,
            )
        ],
    )
    return entry


def read_entry(entry: ArchiveEntry) -> bytes:
    """The archived bytes of an entry."""
    with archive_storage().open(entry.storage_name, "rb") as handle:
        return handle.read()
