"""Writing an export as CSV or XLSX without holding the rows in memory.

The database is read in chunks of primary keys (registry.py), CSV is produced by a generator and
XLSX by openpyxl's write-only workbook. Numbers stay numbers, dates stay dates, and text that a
spreadsheet would run as a formula is neutralised. The rules are in docs/exports.md.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import BinaryIO

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from cpo_portal.kernel.exports.columns import Column, Number
from cpo_portal.kernel.exports.models import ExportJob
from cpo_portal.kernel.exports.registry import Export, ExportError, get_export

# Up to this many rows an admin export is streamed in the response; above it a worker writes it.
DEFAULT_STREAM_MAX_ROWS = 5000
# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Writers report progress every PROGRESS_ROWS rows.
PROGRESS_ROWS = 500
CONTENT_TYPES = {
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
Progress = Callable[[int], None]


def stream_max_rows() -> int:
    """Up to how many rows an admin export is the response (setting EXPORT_STREAM_MAX_ROWS)."""
    return getattr(settings, "EXPORT_STREAM_MAX_ROWS", DEFAULT_STREAM_MAX_ROWS)


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
        yield [widget.render(read(obj), obj) for read, widget in columns]


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
