"""A terminal vendor's daily settlement file (CSV): its columns mapped per vendor to the
transaction fields, each row taken in like an API call; a known transaction changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings

from cpo_portal.kernel.errors import DomainError, InvalidInput
from invoicing.terminals import ingest

# The generic layout; a vendor's own is set in CPO_TERMINAL_SETTLEMENT_COLUMNS (docs/receipts.md).
GENERIC_COLUMNS = {
    "id": "transaction_id",
    "terminal_id": "terminal_id",
    "kind": "type",
    "amount": "amount",
    "currency": "currency",
    "at": "time",
    "authorization_id": "authorization_id",
    "card_brand": "card_brand",
    "card_last4": "card_last4",
    "authorization_code": "auth_code",
    "reference": "reference",
}
# Vendors' names for the kinds, per vendor; ours pass unchanged.
GENERIC_KINDS = {"auth": "authorization", "sale": "capture", "void": "reversal"}


@dataclass
class SettlementReport:
    rows: int = 0
    created: int = 0
    known: int = 0
    refused: list[str] = field(default_factory=list)


def columns_for(vendor: str) -> dict[str, str]:
    return getattr(settings, "CPO_TERMINAL_SETTLEMENT_COLUMNS", {}).get(vendor, GENERIC_COLUMNS)


def read_rows(text: str, vendor: str) -> list[dict]:
    """The file's rows as transaction fields, or InvalidInput naming the missing columns."""
    columns = columns_for(vendor)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [
        column
        for ours, column in columns.items()
        if ours in ingest.REQUIRED and column not in (reader.fieldnames or [])
    ]
    if missing:
        raise InvalidInput(
            f"The settlement file lacks the column(s) {', '.join(missing)} of vendor {vendor}.",
            field="file",
        )
    rows = []
    for raw in reader:
        row = {ours: (raw.get(column) or "").strip() or None for ours, column in columns.items()}
        row["kind"] = GENERIC_KINDS.get((row["kind"] or "").lower(), row["kind"])
        rows.append(row)
    return rows


def import_settlement(
    text: str,
    *,
    operator,
    vendor: str,
    recorded_by=None,
    progress: Callable[[Iterable], Iterable] = lambda rows: rows,
) -> SettlementReport:
    """Take in every row (authorizations first); a refused row is reported with its reason and
    line, the others are kept: a settlement file is the vendor's record, not one request."""
    rows = read_rows(text, vendor)
    report = SettlementReport(rows=len(rows))
    ordered = sorted(
        enumerate(rows, start=2), key=lambda p: (p[1]["kind"] != "authorization", p[0])
    )
    for line, row in progress(ordered):
        try:
            received = ingest.receive(
                row, operator=operator, source="settlement", recorded_by=recorded_by
            )
        except DomainError as exc:
            report.refused.append(f"line {line}: {exc}")
            continue
        if received.created:
            report.created += 1
        else:
            report.known += 1
    return report
