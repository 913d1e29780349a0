"""How long each kind of archived record is kept, legal holds, and what may be deleted when.

Retention runs from the end of the calendar year of the record (§ 147 (4) AO): an invoice of
2026 with 8 years is kept until 31 December 2034. The years per kind come from
``settings.ARCHIVE_RETENTION_YEARS``: a "default" table and optional tables per operator
country (ISO code) that override it kind by kind.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db.models import Q, QuerySet

from cpo_portal.kernel.tenancy import Operator
from invoicing.archive.models import ArchiveEntry, ArchiveKind, LegalHold


class RetentionConfigError(Exception):
    """The retention settings name no period for a kind."""


def retention_years(*, country: str, kind: str) -> int:
    """Years a record of this kind is kept for an operator in this country."""
    table = settings.ARCHIVE_RETENTION_YEARS
    years = table.get(country.upper(), {}).get(kind, table["default"].get(kind))
    if years is None:
        raise RetentionConfigError(f"ARCHIVE_RETENTION_YEARS names no period for “{kind}”.")
    return int(years)


def retain_until(*, country: str, kind: str, record_date: date) -> date:
    """The last day a record must be kept: the end of its year plus the retention years."""
    return date(record_date.year + retention_years(country=country, kind=kind), 12, 31)


def _hold_filter(hold: LegalHold) -> Q:
    condition = Q(operator_id=hold.operator_id)
    if hold.kind:
        condition &= Q(kind=hold.kind)
    if hold.reference:
        condition &= Q(reference=hold.reference)
    if hold.archived_from:
        condition &= Q(archived_at__date__gte=hold.archived_from)
    if hold.archived_to:
        condition &= Q(archived_at__date__lte=hold.archived_to)
    return condition


def held_filter(operator: Operator | None = None) -> Q | None:
    """Entries under an active legal hold, as a filter; None when no hold is active."""
    holds = LegalHold.objects.filter(released_at__isnull=True)
    if operator is not None:
        holds = holds.filter(operator=operator)
    condition = None
    for hold in holds:
        condition = _hold_filter(hold) if condition is None else condition | _hold_filter(hold)
    return condition


def deletable_entries(*, operator: Operator | None = None, today: date) -> QuerySet[ArchiveEntry]:
    """Entries past their retention date and under no active legal hold: they may be deleted."""
    entries = ArchiveEntry.objects.filter(retain_until__lt=today)
    if operator is not None:
        entries = entries.filter(operator=operator)
    held = held_filter(operator)
    return entries.exclude(held) if held is not None else entries


def held_entries(*, operator: Operator | None = None) -> QuerySet[ArchiveEntry]:
    """Entries an active legal hold keeps, whatever their retention date."""
    held = held_filter(operator)
    if held is None:
        return ArchiveEntry.objects.none()
    return ArchiveEntry.objects.filter(held)


def retention_report(*, operator: Operator | None = None, today: date) -> list[dict]:
    """Per operator and kind: entries kept, held, and may be deleted (with the oldest date)."""
    rows = []
    deletable = deletable_entries(operator=operator, today=today)
    held = held_entries(operator=operator)
    operators = [operator] if operator else Operator.objects.order_by("pk")
    for op in operators:
        for kind in ArchiveKind:
            entries = ArchiveEntry.objects.filter(operator=op, kind=kind)
            total = entries.count()
            if not total:
                continue
            may_delete = deletable.filter(operator=op, kind=kind)
            rows.append(
                {
                    "operator": op,
                    "kind": kind,
                    "entries": total,
                    "held": held.filter(operator=op, kind=kind).count(),
                    "may_be_deleted": may_delete.count(),
                    "oldest_retain_until": (
                        may_delete.order_by("retain_until")
                        .values_list("retain_until", flat=True)
                        .first()
                    ),
                }
            )
    return rows
