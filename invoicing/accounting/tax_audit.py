"""The tax-audit export (GDPdU, "Z3" data access): a period's documents, lines, VAT, payments
and sessions as CSV tables with an ``index.xml`` describing them, in one ZIP, with each
document's e-invoice XML as issued (``einvoices/``, listed with its SHA-256 in ``einvoices.csv``).

The tables follow the GDPdU description standard as auditors' software (IDEA) reads it: UTF-8,
";" between columns, CRLF between records, text in double quotes, a header line (data from
line 2), decimal comma, dates as DD.MM.YYYY. `index.xml` names every table, its columns with
their types, primary and foreign keys; the DTD it refers to (gdpdu-01-09-2004.dtd) is the
Federal Ministry of Finance's and is added by the auditor's software.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.periods import add_months
from cpo_portal.kernel.tenancy import Operator
from invoicing.documents.models import BilledSession, Document, DocumentLine, DocumentStatus
from invoicing.einvoices.models import EInvoice
from invoicing.payments.models import Payment
from sessions.models import ChargingSession

DTD = "gdpdu-01-09-2004.dtd"
CHUNK = 2000
EINVOICE_FOLDER = "einvoices"


class InvalidAuditPeriod(InvalidInput):
    """A period that is neither a month (YYYY-MM) nor a year (YYYY)."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    label: str


def parse_audit_period(text: str) -> Period:
    """'2026-11' is November 2026, '2026' the whole year; anything else is refused."""
    text = (text or "").strip()
    try:
        if len(text) == 4:
            year = int(text)
            return Period(date(year, 1, 1), date(year, 12, 31), text)
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise InvalidAuditPeriod(
            f"“{text}” is not a period; write a month as YYYY-MM (2026-11) or a year as YYYY.",
            field="period",
        ) from None
    return Period(first, add_months(first, 1) - timedelta(days=1), text)


# --- columns ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    description: str
    kind: str  # "text", "number", "date"
    accuracy: int = 0


def text(name: str, description: str) -> Column:
    return Column(name, description, "text")


def number(name: str, description: str, accuracy: int = 0) -> Column:
    return Column(name, description, "number", accuracy)


def day(name: str, description: str) -> Column:
    return Column(name, description, "date")


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    primary_key: tuple[Column, ...]
    columns: tuple[Column, ...]
    rows: Callable[[Operator, Period], Iterable[tuple]]
    foreign_keys: tuple[tuple[str, str], ...] = field(default=())

    @property
    def url(self) -> str:
        return f"{self.name}.csv"

    @property
    def all_columns(self) -> tuple[Column, ...]:
        return self.primary_key + self.columns


def _cell(column: Column, value) -> str:
    if value is None or value == "":
        return ""
    if column.kind == "date":
        return value.strftime("%d.%m.%Y")
    if column.kind == "number":
        quantum = Decimal(1).scaleb(-column.accuracy)
        return format(Decimal(value).quantize(quantum), "f").replace(".", ",")
    return str(value)


def _documents(operator: Operator, period: Period):
    return Document.objects.filter(
        operator=operator, issue_date__range=(period.first, period.last)
    ).exclude(status=DocumentStatus.DRAFT)


def _document_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    for d in (
        _documents(operator, period)
        .select_related("credited_document")
        .order_by("issue_date", "id")
        .iterator(chunk_size=CHUNK)
    ):
        yield (
            d.pk,
            d.display_number,
            d.kind,
            d.status,
            d.issue_date,
            d.due_date,
            d.period_start,
            d.period_end,
            d.customer_id,
            d.recipient_name,
            d.recipient_vat_id,
            d.recipient_country,
            d.delivery_country,
            d.supplier_vat_id,
            d.currency,
            d.total_net,
            d.total_vat,
            d.total_gross,
            d.amount_paid,
            d.paid_on,
            d.credited_document.display_number if d.credited_document else "",
        )


def _line_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    lines = DocumentLine.objects.filter(document__in=_documents(operator, period)).order_by(
        "document_id", "position"
    )
    for line in lines.iterator(chunk_size=CHUNK):
        yield (
            line.pk,
            line.document_id,
            line.position,
            line.service,
            line.description,
            line.session_id,
            line.quantity,
            line.unit,
            line.unit_price,
            line.net,
            line.vat_category,
            line.vat_rate,
            line.vat_note,
        )


def _vat_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    documents = _documents(operator, period).order_by("issue_date", "id")
    for document_id, summary in documents.values_list("id", "vat_summary").iterator(
        chunk_size=CHUNK
    ):
        for row in summary:
            yield (
                document_id,
                Decimal(row["rate"]),
                row.get("note", ""),
                Decimal(row["net"]),
                Decimal(row["vat"]),
                Decimal(row["gross"]),
            )


def _payment_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    payments = (
        Payment.objects.filter(
            document__operator=operator, paid_on__range=(period.first, period.last)
        )
        .select_related("document", "transaction")
        .order_by("paid_on", "id")
    )
    for p in payments.iterator(chunk_size=CHUNK):
        yield (
            p.pk,
            p.document_id,
            p.document.display_number,
            p.paid_on,
            p.amount,
            p.document.currency,
            p.method,
            p.reference,
            p.transaction_id,
            p.transaction.kind,
            p.transaction.provider,
            p.transaction.provider_reference,
        )


def _session_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    billed = (
        BilledSession.objects.filter(document__in=_documents(operator, period))
        .order_by("document_id", "session_id")
        .values_list("document_id", "session_id", "is_reversed")
    )
    batch: list[tuple[int, int, bool]] = []

    def flush() -> Iterator[tuple]:
        sessions = ChargingSession.objects.filter(pk__in=[s for _d, s, _r in batch]).in_bulk()
        for document_id, session_id, reversed_ in batch:
            s = sessions[session_id]
            yield (
                session_id,
                document_id,
                s.source,
                s.source_id,
                s.evse_id,
                s.started_at.date(),
                s.started_at.strftime("%H:%M:%S"),
                s.ended_at.date() if s.ended_at else None,
                s.ended_at.strftime("%H:%M:%S") if s.ended_at else "",
                s.energy_kwh,
                s.currency,
                s.total_net,
                s.total_vat,
                s.total_gross,
                "yes" if reversed_ else "no",
            )

    for row in billed.iterator(chunk_size=CHUNK):
        batch.append(row)
        if len(batch) == CHUNK:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def _einvoices(operator: Operator, period: Period):
    return (
        EInvoice.objects.filter(document__in=_documents(operator, period))
        .select_related("document")
        .order_by("document__issue_date", "document_id")
    )


def einvoice_path(einvoice: EInvoice) -> str:
    """Where a document's e-invoice XML lies in the export."""
    return f"{EINVOICE_FOLDER}/{einvoice.filename}"


def _einvoice_rows(operator: Operator, period: Period) -> Iterator[tuple]:
    for e in _einvoices(operator, period).defer("xml").iterator(chunk_size=CHUNK):
        yield (
            e.document_id,
            e.document.display_number,
            e.get_format_display(),
            einvoice_path(e),
            e.sha256,
            "yes" if e.report.get("valid") else "no",
            "; ".join(rules["version"] for rules in e.report.get("rule_sets", {}).values()),
        )


DOCUMENT_ID = number("document_id", "Internal id of the document")
TABLES = (
    Table(
        "documents",
        "Issued invoices, receipts and credit notes (document headers)",
        (DOCUMENT_ID,),
        (
            text("number", "Document number"),
            text("kind", "invoice, receipt or credit_note"),
            text("status", "Status at export"),
            day("issue_date", "Issue date"),
            day("due_date", "Due date"),
            day("period_start", "Service period from"),
            day("period_end", "Service period to"),
            number("customer_id", "Internal id of the customer (debtor)"),
            text("recipient_name", "Recipient as printed"),
            text("recipient_vat_id", "Recipient VAT ID"),
            text("recipient_country", "Recipient country (ISO 3166-1)"),
            text("delivery_country", "Country of supply"),
            text("supplier_vat_id", "Supplier VAT ID as printed"),
            text("currency", "Currency (ISO 4217)"),
            number("total_net", "Total excluding VAT", 2),
            number("total_vat", "VAT", 2),
            number("total_gross", "Total including VAT", 2),
            number("amount_paid", "Amount paid at export", 2),
            day("paid_on", "Paid in full on"),
            text("credited_number", "Number of the document a credit note cancels"),
        ),
        _document_rows,
    ),
    Table(
        "lines",
        "Document lines",
        (number("line_id", "Internal id of the line"),),
        (
            DOCUMENT_ID,
            number("position", "Position on the document"),
            text("service", "Service"),
            text("description", "Description as printed"),
            number("session_id", "Charging session billed by the line"),
            number("quantity", "Quantity", 3),
            text("unit", "Unit"),
            number("unit_price", "Net unit price", 6),
            number("net", "Net amount", 2),
            text("vat_category", "VAT category"),
            number("vat_rate", "VAT rate in percent", 2),
            text("vat_note", "VAT exemption or reverse-charge note"),
        ),
        _line_rows,
        (("document_id", "documents"),),
    ),
    Table(
        "vat",
        "VAT breakdown per document and rate",
        (DOCUMENT_ID, number("vat_rate", "VAT rate in percent", 2), text("note", "VAT note")),
        (
            number("net", "Net amount at this rate", 2),
            number("vat", "VAT at this rate", 2),
            number("gross", "Gross amount at this rate", 2),
        ),
        _vat_rows,
        (("document_id", "documents"),),
    ),
    Table(
        "payments",
        "Payments received and given back in the period",
        (number("payment_id", "Internal id of the payment"),),
        (
            DOCUMENT_ID,
            text("document_number", "Number of the document paid"),
            day("paid_on", "Paid on"),
            number("amount", "Amount (negative: money given back)", 2),
            text("currency", "Currency (ISO 4217)"),
            text("method", "Payment method"),
            text("reference", "Payment reference"),
            number("transaction_id", "Internal id of the ledger transaction"),
            text("transaction_kind", "Kind of transaction (e.g. refund, direct_debit_return)"),
            text("provider", "Payment provider"),
            text("provider_reference", "The provider's reference of the transaction"),
        ),
        _payment_rows,
        (("document_id", "documents"),),
    ),
    Table(
        "sessions",
        "Charging sessions billed by the documents of the period",
        (number("session_id", "Internal id of the session"), DOCUMENT_ID),
        (
            text("source", "System that sent the session"),
            text("source_id", "Session id in that system"),
            number("evse_id", "Internal id of the charge point (EVSE)"),
            day("start_date", "Start date (UTC)"),
            text("start_time", "Start time (UTC)"),
            day("end_date", "End date (UTC)"),
            text("end_time", "End time (UTC)"),
            number("energy_kwh", "Energy in kWh", 3),
            text("currency", "Currency (ISO 4217)"),
            number("total_net", "Price excluding VAT", 2),
            number("total_vat", "VAT", 2),
            number("total_gross", "Price including VAT", 2),
            text("reversed", "Billing reversed by a credit note (yes/no)"),
        ),
        _session_rows,
        (("document_id", "documents"),),
    ),
    Table(
        "einvoices",
        "Structured e-invoices (EN 16931 XML) issued with the documents; each file as issued "
        "lies in the folder einvoices/ of this export",
        (DOCUMENT_ID,),
        (
            text("document_number", "Number of the document"),
            text("format", "XRechnung (CII), XRechnung (UBL) or Factur-X / ZUGFeRD EN 16931"),
            text("file", "Path of the XML file in this export"),
            text("sha256", "SHA-256 of the XML file as issued"),
            text("valid", "Passed XML Schema and Schematron before issue (yes/no)"),
            text("rule_sets", "Schematron rule sets and versions it was validated with"),
        ),
        _einvoice_rows,
        (("document_id", "documents"),),
    ),
)


def write_csv(table: Table, rows: Iterable[tuple], out: io.TextIOBase) -> int:
    """One table as GDPdU CSV; returns how many records were written."""
    columns = table.all_columns
    out.write(";".join(f'"{c.name}"' for c in columns) + "\r\n")
    count = 0
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            cell = _cell(column, value)
            cells.append('"' + cell.replace('"', '""') + '"' if column.kind == "text" else cell)
        out.write(";".join(cells) + "\r\n")
        count += 1
    return count


def _column_xml(column: Column, element: str) -> str:
    if column.kind == "number":
        type_xml = (
            f"<Numeric><Accuracy>{column.accuracy}</Accuracy></Numeric>"
            if column.accuracy
            else "<Numeric/>"
        )
    elif column.kind == "date":
        type_xml = "<Date><Format>DD.MM.YYYY</Format></Date>"
    else:
        type_xml = "<AlphaNumeric/>"
    return (
        f"        <{element}><Name>{column.name}</Name>"
        f"<Description>{escape(column.description)}</Description>{type_xml}</{element}>"
    )


def index_xml(*, operator: Operator, period: Period, tables=TABLES) -> str:
    """The GDPdU description of the export's tables (what an auditor's software imports)."""
    location = f"{operator.street}, {operator.postal_code} {operator.city}, {operator.country}"
    comment = (
        f"Tax-audit export {period.label}; VAT ID {operator.vat_id}; "
        f"tax number {operator.tax_number}"
    )
    validity = f"<From>{period.first:%d.%m.%Y}</From><To>{period.last:%d.%m.%Y}</To>"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<!DOCTYPE DataSet SYSTEM "{DTD}">',
        "<DataSet>",
        "  <Version>1.0</Version>",
        "  <DataSupplier>",
        f"    <Name>{escape(operator.legal_name or operator.name)}</Name>",
        f"    <Location>{escape(location)}</Location>",
        f"    <Comment>{escape(comment)}</Comment>",
        "  </DataSupplier>",
        "  <Media>",
        f"    <Name>Tax-audit export {escape(period.label)}</Name>",
    ]
    for table in tables:
        parts += [
            "    <Table>",
            f"      <URL>{table.url}</URL>",
            f"      <Name>{table.name}</Name>",
            f"      <Description>{escape(table.description)}</Description>",
            "      <Validity>",
            f"        <Range>{validity}</Range>",
            "        <Format>DD.MM.YYYY</Format>",
            "      </Validity>",
            "      <UTF8/>",
            "      <DecimalSymbol>,</DecimalSymbol>",
            "      <DigitGroupingSymbol>.</DigitGroupingSymbol>",
            "      <Range><From>2</From></Range>",
            "      <VariableLength>",
            "        <ColumnDelimiter>;</ColumnDelimiter>",
            "        <RecordDelimiter>&#13;&#10;</RecordDelimiter>",
            '        <TextEncapsulator>"</TextEncapsulator>',
        ]
        parts += [_column_xml(c, "VariablePrimaryKey") for c in table.primary_key]
        parts += [_column_xml(c, "VariableColumn") for c in table.columns]
        parts += [
            f"        <ForeignKey><Name>{column}</Name><References>{references}</References>"
            "</ForeignKey>"
            for column, references in table.foreign_keys
        ]
        parts += ["      </VariableLength>", "    </Table>"]
    parts += ["  </Media>", "</DataSet>", ""]
    return "\n".join(parts)


def write_tax_audit_export(*, operator: Operator, period: Period, out) -> dict[str, int]:
    """Write the period's tables and index.xml as a ZIP into `out`; returns records per table."""
    counts = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for table in TABLES:
            with (
                archive.open(table.url, "w", force_zip64=True) as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle,
            ):
                counts[table.name] = write_csv(table, table.rows(operator, period), handle)
        for einvoice in _einvoices(operator, period).iterator(chunk_size=CHUNK):
            archive.writestr(einvoice_path(einvoice), bytes(einvoice.xml))
        archive.writestr("index.xml", index_xml(operator=operator, period=period))
    return counts
