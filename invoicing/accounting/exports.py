"""Exports for accountants: invoices, invoice lines, sessions with breakdown and customers.

The columns are django-import-export resources (`invoicing/resources.py`, `sessions/resources.py`,
`customers/resources.py`); this module writes them as CSV or XLSX without holding the rows in
memory: the database is read in chunks of primary keys, CSV is produced by a generator and XLSX
by openpyxl's write-only workbook. Numbers stay numbers, dates stay dates, and text that a
spreadsheet would run as a formula is neutralised. The rules are in docs/exports.md.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.resources import CustomerResource
from invoicing.accounting.resources import (
    Column,
    DocumentLineResource,
    DocumentResource,
    ExportResource,
    Number,
)
from invoicing.models import Document, DocumentLine, DocumentStatus, ExportJob
from sessions.models import ChargingSession, SessionChargeLine
from sessions.resources import SessionBreakdownResource

logger = logging.getLogger(__name__)

EXPORT_PERMISSION = "invoicing.export_data"
CHUNK_SIZE = 2000
# Up to this many rows an admin export is streamed in the response; above it a worker writes it.
DEFAULT_STREAM_MAX_ROWS = 5000
# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Writers report progress every PROGRESS_ROWS rows; a job stores it at most this often.
PROGRESS_ROWS = 500
PROGRESS_EVERY_SECONDS = 2.0
CONTENT_TYPES = {
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
Progress = Callable[[int], None]


class ExportError(InvalidInput):
    """An export that cannot be made as asked (unknown export or format, bad dates)."""


def stream_max_rows() -> int:
    """Up to how many rows an admin export is the response (setting EXPORT_STREAM_MAX_ROWS)."""
    return getattr(settings, "EXPORT_STREAM_MAX_ROWS", DEFAULT_STREAM_MAX_ROWS)


# --- what can be exported --------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, clock.min))


@dataclass(frozen=True)
class Export:
    """One export: the list it is taken from (`source`), its rows and its columns."""

    what: str
    source: type
    resource: type[ExportResource]
    date_field: str

    def columns(self) -> tuple[list[str], list[tuple[Callable[[object], object], Column]]]:
        """The header and, per column, how to read its value and its typed widget."""
        resource = self.resource()
        names, readers = [], []
        for name, field in resource.fields.items():
            # The resource's dehydrate_<name> method if it has one, else the field's attribute.
            dehydrate = getattr(resource, field.get_dehydrate_method(name), None)
            names.append(field.column_name)
            readers.append((dehydrate or field.get_value, field.widget))
        return names, readers

    def default_queryset(self) -> QuerySet:
        queryset = self.source._default_manager.all()
        if self.source is Document:
            queryset = queryset.exclude(status=DocumentStatus.DRAFT)
        return queryset

    def between(self, queryset: QuerySet, start: date | None, end: date | None) -> QuerySet:
        """Rows whose date (issue date; session end; customer creation) is in [start, end]."""
        field = self.source._meta.get_field(self.date_field)
        is_moment = field.get_internal_type() == "DateTimeField"
        if start is not None:
            low = _day_start(start) if is_moment else start
            queryset = queryset.filter(**{f"{self.date_field}__gte": low})
        if end is not None:
            if is_moment:
                queryset = queryset.filter(
                    **{f"{self.date_field}__lt": _day_start(end + timedelta(days=1))}
                )
            else:
                queryset = queryset.filter(**{f"{self.date_field}__lte": end})
        return queryset

    def row_queryset(self, source: QuerySet) -> QuerySet:
        """The rows of the export as a queryset, for counting them."""
        if self.what == ExportJob.What.LINES:
            return DocumentLine.objects.filter(document__in=source.values("pk"))
        if self.what == ExportJob.What.SESSIONS:
            # Charge lines; an unpriced session adds one row the estimate leaves out.
            return SessionChargeLine.objects.filter(session__in=source.values("pk"))
        return source

    def rows(self, source: QuerySet) -> Iterator[object]:
        """The objects of the rows, read a chunk at a time (never the whole result at once)."""
        if self.what == ExportJob.What.LINES:
            lines = DocumentLine.objects.filter(document__in=source.values("pk"))
            yield from in_chunks(self.resource.prepare(lines))
        elif self.what == ExportJob.What.SESSIONS:
            for session in in_chunks(self.resource.prepare(source)):
                lines = list(session.charge_lines.all())  # prefetched for the chunk
                for line in lines or [SessionChargeLine(session=session)]:
                    line.session = session
                    yield line
        else:
            yield from in_chunks(self.resource.prepare(source))


def in_chunks(queryset: QuerySet, size: int | None = None) -> Iterator[object]:
    """The queryset's objects in primary-key order, one query per chunk (keyset pagination)."""
    # Unlike iterator(), no cursor stays open between chunks: PostgreSQL does not materialise
    # the whole result of a WITH HOLD cursor first, and on SQLite the job can store its progress
    # in between (a write from a connection with an open read may be refused there).
    size = size or CHUNK_SIZE
    queryset = queryset.order_by("pk")
    last = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        chunk = list(page[:size])  # prefetch_related lookups run once per chunk
        yield from chunk
        if len(chunk) < size:
            return
        last = chunk[-1].pk


EXPORTS: dict[str, Export] = {
    ExportJob.What.INVOICES: Export(
        ExportJob.What.INVOICES, Document, DocumentResource, "issue_date"
    ),
    ExportJob.What.LINES: Export(
        ExportJob.What.LINES, Document, DocumentLineResource, "issue_date"
    ),
    ExportJob.What.SESSIONS: Export(
        ExportJob.What.SESSIONS, ChargingSession, SessionBreakdownResource, "ended_at"
    ),
    ExportJob.What.CUSTOMERS: Export(
        ExportJob.What.CUSTOMERS, Customer, CustomerResource, "created_at"
    ),
}


def get_export(what: str) -> Export:
    """The export called `what`, or an ExportError that says which exist."""
    try:
        return EXPORTS[what]
    except KeyError:
        known = ", ".join(EXPORTS)
        raise ExportError(f"There is no export called '{what}'; choose one of {known}.") from None


def check_format(fmt: str) -> str:
    if fmt not in ExportJob.Format.values:
        known = ", ".join(ExportJob.Format.values)
        raise ExportError(f"'{fmt}' is not an export format; choose one of {known}.")
    return fmt


def filename_for(what: str, fmt: str, on: date | None = None) -> str:
    return f"{what}-{on or timezone.localdate():%Y-%m-%d}.{fmt}"


# --- cells -----------------------------------------------------------------------------------


def neutralise(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula: a leading trigger gets a `'`."""
    # Control characters XML cannot carry are dropped (in CSV too, so both formats agree).
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


def row_values(export: Export, source: QuerySet) -> Iterator[list[object]]:
    """Each row as native values (str, int, Decimal, date, datetime, bool or None)."""
    _header, columns = export.columns()
    for obj in export.rows(source):
        yield [widget.render(read(obj)) for read, widget in columns]


def csv_cell(value, widget: Column) -> str:
    """A native value as CSV text: numbers and dates plain, text neutralised."""
    if value is None:
        return ""
    if widget.kind == "decimal":
        return widget.text(value)
    if widget.kind == "datetime":
        return value.isoformat(sep=" ")
    if widget.kind == "date":
        return value.isoformat()
    if widget.kind == "boolean":
        return "true" if value else "false"
    if widget.kind == "integer":
        return str(value)
    return neutralise(str(value))


class _Echo:
    """A write-only 'file' that hands back what csv.writer writes (for a generator)."""

    def write(self, value: str) -> str:
        return value


def iter_csv(
    export: Export, source: QuerySet, *, progress: Progress | None = None
) -> Iterator[str]:
    """The CSV text in pieces: a BOM (so Excel reads UTF-8), the header, then the rows."""
    header, columns = export.columns()
    widgets = [widget for _field, widget in columns]
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    buffer: list[str] = []
    count = 0
    for values in row_values(export, source):
        buffer.append(
            writer.writerow([csv_cell(v, w) for v, w in zip(values, widgets, strict=True)])
        )
        count += 1
        if len(buffer) >= PROGRESS_ROWS:
            yield "".join(buffer)
            buffer = []
            if progress:
                progress(count)
    if buffer:
        yield "".join(buffer)
    if progress:
        progress(count)


def write_csv(
    export: Export, source: QuerySet, stream: BinaryIO, *, progress: Progress | None = None
) -> int:
    """Write the CSV to a binary stream; returns the number of rows."""
    counted = RowCounter(progress)
    for piece in iter_csv(export, source, progress=counted):
        stream.write(piece.encode("utf-8"))
    return counted.rows


class RowCounter:
    """Remembers the last row count reported and passes it on."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.rows = 0

    def __call__(self, rows: int) -> None:
        self.rows = rows
        if self.progress:
            self.progress(rows)


def _xlsx_cell_factory(sheet, widget: Column) -> Callable[[object], object]:
    """How values of a column become cells: typed, formatted, text never a formula."""

    def text(value):
        value = neutralise(str(value))
        if not value:
            return None  # no cell rather than an empty string
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # an inline string: never parsed as a formula, whatever it holds
        return cell

    def formatted(value):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = widget.number_format
        return cell

    if widget.kind in ("decimal", "integer", "date", "datetime"):
        return formatted
    if widget.kind == "boolean":
        return lambda value: value
    return text


def write_xlsx(
    export: Export, source: QuerySet, stream: BinaryIO, *, progress: Progress | None = None
) -> int:
    """Write the workbook to a binary stream in write-only mode; returns the number of rows."""
    header, columns = export.columns()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=export.what)
    sheet.freeze_panes = "A2"
    for index, (name, (_field, widget)) in enumerate(zip(header, columns, strict=True), start=1):
        width = max(len(name), 12 if isinstance(widget, Number) else 10) + 2
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    header_cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.data_type = "s"
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    factories = [_xlsx_cell_factory(sheet, widget) for _field, widget in columns]
    count = 0
    for values in row_values(export, source):
        sheet.append([None if v is None else f(v) for v, f in zip(values, factories, strict=True)])
        count += 1
        if progress and count % PROGRESS_ROWS == 0:
            progress(count)
    if progress:
        progress(count)
    # Filter arrows on the header; write-only sheets write this after the rows, so it fits.
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    workbook.save(stream)
    return count


WRITERS = {ExportJob.Format.CSV: write_csv, ExportJob.Format.XLSX: write_xlsx}


def write_export(
    *,
    what: str,
    fmt: str,
    stream: BinaryIO,
    queryset: QuerySet | None = None,
    start: date | None = None,
    end: date | None = None,
    progress: Progress | None = None,
) -> int:
    """Write one export (of `queryset`, or of everything in [start, end]); returns the rows."""
    export = get_export(what)
    writer = WRITERS[check_format(fmt)]
    if queryset is None:
        queryset = export.default_queryset()
    return writer(export, export.between(queryset, start, end), stream, progress=progress)


def count_rows(*, what: str, queryset: QuerySet, limit: int | None = None) -> int:
    """How many rows the export has; with `limit`, counts no further than limit + 1."""
    rows = get_export(what).row_queryset(queryset).values("pk")
    if limit is not None:
        rows = rows[: limit + 1]  # COUNT over a LIMIT subquery stays cheap on huge lists
    return rows.count()


def iter_csv_bytes(*, what: str, queryset: QuerySet) -> Iterable[bytes]:
    """The CSV of an export as bytes, for a streamed HTTP response."""
    export = get_export(what)
    return (piece.encode("utf-8") for piece in iter_csv(export, queryset))


def xlsx_tempfile(*, what: str, queryset: QuerySet) -> BinaryIO:
    """The XLSX of an export in an anonymous temporary file, rewound for reading."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    write_xlsx(get_export(what), queryset, handle)
    handle.seek(0)
    return handle


# --- exports written by a worker -------------------------------------------------------------


def claim_job(*, job_id: int) -> ExportJob | None:
    """Mark a queued job running; None when it is done or failed already (a task ran twice)."""
    # A job left running by a worker that died is taken again: the file is rewritten whole.
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING])
            .first()
        )
        if job is None:
            return None
        job.status = ExportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.rows_written = 0
        job.error = ""
        job.save(update_fields=["status", "started_at", "rows_written", "error"])
    return job


def complete_job(*, job: ExportJob, queryset: QuerySet) -> ExportJob:
    """Write the job's export to a temporary file, store it, and mark the job done."""
    export = get_export(job.what)
    writer = WRITERS[check_format(job.format)]
    total = export.row_queryset(queryset).count()
    ExportJob.objects.filter(pk=job.pk).update(rows_total=total)
    last_report = [time.monotonic()]

    def progress(rows: int) -> None:
        # Rows written so far, for the admin page; at most every few seconds (a write each).
        now = time.monotonic()
        if now - last_report[0] >= PROGRESS_EVERY_SECONDS:
            store_progress(job_id=job.pk, rows=rows)
            last_report[0] = now

    with tempfile.TemporaryFile() as handle:
        rows = writer(export, queryset, handle, progress=progress)
        handle.seek(0)
        job.file.save(filename_for(job.what, job.format), File(handle), save=False)
    job.status = ExportJob.Status.DONE
    job.rows_total = total
    job.rows_written = rows
    job.finished_at = timezone.now()
    job.save(update_fields=["file", "status", "rows_total", "rows_written", "finished_at"])
    logger.info("Export %s written: %d rows to %s", job, rows, job.file.name)
    return job


def store_progress(*, job_id: int, rows: int) -> None:
    """Record rows written so far; a refused write only delays the progress shown."""
    # E.g. SQLite's "database is locked" while a web request writes: the job goes on and the
    # final count is stored when it is done.
    try:
        ExportJob.objects.filter(pk=job_id).update(rows_written=rows)
    except DatabaseError as exc:
        logger.warning("Progress of export job %s not stored: %s", job_id, exc)


def fail_job(*, job: ExportJob, error: str) -> ExportJob:
    """Record why a job failed; its page shows the reason."""
    job.status = ExportJob.Status.FAILED
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    return job


def delete_job_files(jobs: Iterable[ExportJob]) -> None:
    """Remove the stored files of jobs being deleted (exports hold personal data)."""
    for job in jobs:
        if job.file:
            job.file.delete(save=False)
