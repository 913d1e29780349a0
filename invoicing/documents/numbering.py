"""Gap-free document numbers: taken from a locked counter row in the issuing transaction.

A series row is updated (and so locked) with one statement that reserves a block of numbers;
the lock is held until the issuing transaction commits, so a rolled-back issue returns its
numbers and concurrent issuers queue behind it. `MAX(number) + 1` without a lock is what gave
other invoicing systems duplicate numbers; the unique constraint on (series, number) stays as
the last line of defence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document, DocumentStatus
from invoicing.setup.models import NumberingSeries

YEAR_FIELD = "{year}"


def check_next_number(*, series: NumberingSeries, next_number: int) -> None:
    """Once a series has issued a document its next number is the one after the last issued
    (no number twice, no gap); before that it may start anywhere from 1. Locks the series row
    until the caller's transaction ends, so nothing is issued in between."""
    if next_number < 1:
        raise InvoicingError("The next number must be 1 or more.", field="next_number")
    with transaction.atomic():
        locked = NumberingSeries.objects.select_for_update(of=("self",)).get(pk=series.pk)
        last = Document.objects.filter(series=locked).aggregate(last=Max("number"))["last"]
    if last is not None and next_number != last + 1:
        raise InvoicingError(
            f"{locked.format(last)} is the last number issued in this series: the next number "
            f"must be {last + 1}, or the numbering would repeat a number or leave a gap.",
            field="next_number",
        )


def change_next_number(*, series: NumberingSeries, next_number: int) -> NumberingSeries:
    """Set the number the next document of the series gets (see check_next_number)."""
    with transaction.atomic():
        check_next_number(series=series, next_number=next_number)
        NumberingSeries.objects.filter(pk=series.pk).update(next_number=next_number)
    series.next_number = next_number
    return series


def yearly_prefix_errors(pattern: str) -> str | None:
    """A yearly prefix holds {year} once and nothing else in braces (INV-{year}-)."""
    if not pattern:
        return None
    if (
        pattern.count(YEAR_FIELD) != 1
        or pattern.replace(YEAR_FIELD, "").count("{")
        or (pattern.replace(YEAR_FIELD, "").count("}"))
    ):
        return "A yearly prefix must contain {year} exactly once, e.g. INV-{year}-."
    if len(pattern.replace(YEAR_FIELD, "2026")) > 20:
        return "The prefix may have at most 20 characters with the year filled in."
    return None


def check_prefix(*, series: NumberingSeries, prefix: str) -> None:
    """A prefix numbers one series only: a closed prefix is never used again."""
    taken = (
        NumberingSeries.objects.filter(operator_id=series.operator_id, kind=series.kind)
        .filter(prefix=prefix)
        .exclude(pk=series.pk)
        .first()
    )
    if taken is not None:
        raise InvoicingError(
            f"The prefix {prefix!r} numbered earlier documents of this kind and is closed: a "
            "closed prefix is never used again, or two documents could share a number.",
            field="prefix",
        )


def start_prefix(
    *, series: NumberingSeries, prefix: str, next_number: int = 1, yearly_prefix: str = ""
) -> NumberingSeries:
    """Close `series` and continue its kind under a new prefix from `next_number` (gap-free
    within each prefix); the closed prefix keeps its documents and is never reused. Must run in
    the caller's transaction, which holds the series lock until it commits."""
    if next_number < 1:
        raise InvoicingError("The next number must be 1 or more.", field="next_number")
    check_prefix(series=series, prefix=prefix)
    NumberingSeries.objects.filter(pk=series.pk).update(closed_at=timezone.now())
    return NumberingSeries.objects.create(
        operator_id=series.operator_id,
        kind=series.kind,
        prefix=prefix,
        next_number=next_number,
        padding=series.padding,
        yearly_prefix=yearly_prefix,
    )


def open_series(*, operator_id: int, kind: str, issue_date: date) -> NumberingSeries:
    """The series that numbers a document of this kind issued on `issue_date`, locked until
    the issuing transaction ends. A yearly series whose prefix is not the issue year's is closed
    and succeeded by the year's prefix, starting at 1; an issue date of a year whose prefix is
    already closed is refused (it would reopen it)."""
    for _attempt in range(3):
        # Only the series row: the default ordering joins the operator, whose row every issuing
        # transaction holds a key-share lock on (documents reference it), so locking it too
        # deadlocks concurrent issuers.
        series = (
            NumberingSeries.objects.select_for_update(of=("self",))
            .filter(operator_id=operator_id, kind=kind, closed_at=None)
            .first()
        )
        if series is None:
            # A concurrent issuer closed it while we waited for the lock; the next statement
            # sees its successor.
            continue
        if not series.yearly_prefix:
            return series
        prefix = series.yearly_prefix.replace(YEAR_FIELD, str(issue_date.year))
        if prefix == series.prefix:
            return series
        current = _year_of(series)
        if current is not None and issue_date.year < current:
            raise InvoicingError(
                f"A document issued on {issue_date} cannot be numbered: {series.prefix!r} "
                f"already numbers {current}, and the prefixes of earlier years are closed."
            )
        return start_prefix(series=series, prefix=prefix, yearly_prefix=series.yearly_prefix)
    raise RuntimeError(f"No open numbering series for {kind}; the issue is rolled back.")


def _year_of(series: NumberingSeries) -> int | None:
    """The year an open yearly series numbers, read from its prefix (None for another prefix)."""
    head, tail = series.yearly_prefix.split(YEAR_FIELD)
    middle = series.prefix[len(head) : len(series.prefix) - len(tail)]
    fits = series.prefix.startswith(head) and series.prefix.endswith(tail)
    return int(middle) if fits and middle.isdigit() else None


def reserve_numbers(*, series_id: int, count: int) -> tuple[int, str, int]:
    """Lock the series and take `count` consecutive numbers; returns (first, prefix, padding)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Numbers must be reserved inside the issuing transaction.")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE invoicing_numberingseries SET next_number = next_number + %s "
            "WHERE id = %s RETURNING next_number, prefix, padding",
            [count, series_id],
        )
        next_number, prefix, padding = cursor.fetchone()
    return next_number - count, prefix, padding


def issue_drafts(
    *, series_id: int, document_ids: Sequence[int], issued_at: datetime | None = None
) -> list[str]:
    """Number draft documents in id order and mark them issued, in one locked statement each."""
    if not document_ids:
        return []
    first, prefix, padding = reserve_numbers(series_id=series_id, count=len(document_ids))
    rows = [
        (document_id, first + offset, f"{prefix}{first + offset:0{padding}d}")
        for offset, document_id in enumerate(sorted(document_ids))
    ]
    values = ", ".join(["(%s, %s, %s)"] * len(rows))
    params: list[object] = [DocumentStatus.ISSUED, series_id, issued_at or timezone.now()]
    params += [value for row in rows for value in row]
    params.append(DocumentStatus.DRAFT)
    # Only placeholders are interpolated into the statement.
    sql = (
        "UPDATE invoicing_document SET status = %s, series_id = %s, issued_at = %s, "  # noqa: S608
        "number = v.column2, display_number = v.column3 "
        f"FROM (VALUES {values}) AS v "
        "WHERE invoicing_document.id = v.column1 AND invoicing_document.status = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != len(rows):
            # A document that is not a draft any more would leave a hole in the series.
            raise RuntimeError("Only drafts can be issued; the whole issue is rolled back.")
    return [display for _id, _number, display in rows]
