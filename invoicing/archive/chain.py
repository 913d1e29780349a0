"""The hash that chains an archive entry to the one before it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

# The fields an entry's hash covers, in this order; changing any of them breaks the chain.
HASHED_FIELDS = (
    "operator_id",
    "sequence",
    "kind",
    "reference",
    "source_key",
    "content_type",
    "sha256",
    "size",
    "storage_name",
    "record_date",
    "retain_until",
    "archived_at",
)


def _text(value) -> str | int:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def entry_hash(previous_hash: str, values: tuple) -> str:
    """SHA-256 over the previous entry's hash and this entry's fields (HASHED_FIELDS order)."""
    payload = json.dumps([_text(v) for v in values], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{previous_hash}\n{payload}".encode()).hexdigest()


def hash_of(entry, previous_hash: str) -> str:
    """The hash an ArchiveEntry must carry, given the hash of the entry before it."""
    return entry_hash(previous_hash, tuple(getattr(entry, name) for name in HASHED_FIELDS))
