"""Accounting exports: stable columns, numbers as numbers, dates as dates, totals that match the
database, and text that never runs as a formula, in CSV and XLSX alike."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.db.models import QuerySet, Sum
from openpyxl import load_workbook

from cpo_portal.celery import app as celery_app
from cpo_portal.kernel.exports import jobs, registry, writers
from cpo_portal.kernel.exports.columns import Number
from customers.models import Customer
from invoicing.documents.issuing import issue_credit_note
from invoicing.models import Document, DocumentKind, DocumentLine, ExportJob
from sessions.models import ChargingSession, SessionChargeLine
from tests.factories import ChargingSessionFactory, CompanyCustomerFactory, CustomerFactory
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db

INVOICE_COLUMNS = [
    "document_id",
    "number",
    "kind",
    "status",
    "origin",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "operator",
    "customer_id",
    "recipient_name",
    "recipient_company_registration_id",
    "recipient_vat_id",
    "recipient_street",
    "recipient_postal_code",
    "recipient_city",
    "recipient_country",
    "recipient_email",
    "currency",
    "total_net",
    "total_vat",
    "total_gross",
    "amount_paid",
    "amount_due",
    "paid_on",
    "vat_summary",
    "credited_document_number",
    "session_count",
    "total_energy_kwh",
    "language",
]
LINE_COLUMNS = [
    "document_id",
    "document_number",
    "document_kind",
    "document_status",
    "issue_date",
    "customer_id",
    "recipient_name",
    "currency",
    "position",
    "component",
    "description",
    "session_id",
    "session_source",
    "session_source_id",
    "session_started_at_utc",
    "session_ended_at_utc",
    "quantity",
    "unit",
    "unit_price",
    "net",
    "vat_category",
    "vat_rate",
]
SESSION_COLUMNS = [
    "session_id",
    "source",
    "source_id",
    "status",
    "operator",
    "customer_id",
    "token_uid",
    "evse_id",
    "location",
    "location_country",
    "location_time_zone",
    "started_at_utc",
    "ended_at_utc",
    "energy_kwh",
    "charging_seconds",
    "idle_seconds",
    "currency",
    "session_total_net",
    "session_total_vat",
    "session_total_gross",
    "document_number",
    "line_position",
    "component",
    "quantity",
    "unit",
    "unit_price",
    "net",
    "vat_category",
    "vat_rate",
    "vat",
    "gross",
    "started_at_location_time",
    "ended_at_location_time",
]
CUSTOMER_COLUMNS = [
    "customer_id",
    "kind",
    "name",
    "company_name",
    "company_registration_id",
    "vat_id",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
    "mobile_phone",
    "language",
    "requires_invoice",
    "billing_mode",
    "operator",
    "created_at_utc",
]
FORMULA_NAMES = [
    '=HYPERLINK("http://evil.example","click")',
    "+49 30 1234",
    "-2+3",
    "@SUM(A1:A9)",
    "\tcmd|' /C calc'!A0",
    "\r=1+1",
]


def export_csv(what: str, **kwargs) -> list[dict[str, str]]:
    stream = io.BytesIO()
    writers.write_export(what=what, fmt="csv", stream=stream, **kwargs)
    text = stream.getvalue().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def export_xlsx(what: str, **kwargs):
    """The export's only sheet, read back with openpyxl: (header, rows of cells)."""
    stream = io.BytesIO()
    writers.write_export(what=what, fmt="xlsx", stream=stream, **kwargs)
    stream.seek(0)
    workbook = load_workbook(stream)
    (sheet,) = workbook.worksheets
    rows = list(sheet.iter_rows())
    return [cell.value for cell in rows[0]], [
        {header.value: cell for header, cell in zip(rows[0], row, strict=True)} for row in rows[1:]
    ]


@pytest.fixture
def customer(operator):
    return CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session", name="Ada Driver"
    )


@pytest.fixture
def documents(operator, customer):
    """Two invoices (the first credited: a negative credit note) and a monthly one of 3."""
    first = issue_invoice_for(customer)
    issue_invoice_for(customer, energy_kwh="20.25")
    issue_credit_note(document=first, reason="Wrong customer")
    company = CompanyCustomerFactory(operator=operator, billing_mode="monthly")
    issue_invoice_for(company, sessions=3)
    return Document.objects.exclude(status="draft")


# --- columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "columns"),
    [
        ("invoices", INVOICE_COLUMNS),
        ("lines", LINE_COLUMNS),
        ("sessions", SESSION_COLUMNS),
        ("customers", CUSTOMER_COLUMNS),
    ],
)
def test_every_export_has_one_header_row_with_the_documented_column_names(what, columns):
    header, rows = export_xlsx(what)

    assert header == columns
    assert rows == []
    stream = io.BytesIO()
    writers.write_export(what=what, fmt="csv", stream=stream)
    assert stream.getvalue().decode("utf-8-sig").splitlines() == [",".join(columns)]


def test_the_documented_columns_are_the_exported_ones():
    documented = (Path(__file__).parents[3] / "docs" / "exports.md").read_text(encoding="utf-8")

    for columns in (INVOICE_COLUMNS, LINE_COLUMNS, SESSION_COLUMNS, CUSTOMER_COLUMNS):
        for name in columns:
            assert f"| `{name}` |" in documented, name


# --- numbers, dates, totals ------------------------------------------------------------------


def test_xlsx_amounts_are_numbers_with_two_decimals_and_dates_are_dates(documents):
    _header, rows = export_xlsx("invoices")

    assert len(rows) == documents.count() == 4
    for row in rows:
        document = Document.objects.get(pk=row["document_id"].value)
        for column in ("total_net", "total_vat", "total_gross", "amount_paid", "amount_due"):
            cell = row[column]
            assert cell.data_type == "n", column
            assert cell.number_format == "0.00"
        assert Decimal(str(row["total_gross"].value)) == document.total_gross
        assert row["issue_date"].is_date
        assert row["issue_date"].number_format == "yyyy-mm-dd"
        assert row["issue_date"].value.date() == document.issue_date
        assert row["total_energy_kwh"].number_format == "0.000"
        assert row["session_count"].value == document.session_count


def test_csv_amounts_are_plain_numbers_with_two_decimals(documents):
    rows = {row["number"]: row for row in export_csv("invoices")}

    invoice = documents.get(kind=DocumentKind.INVOICE, status="credited")
    assert rows[invoice.display_number]["total_gross"] == "5.00"
    assert rows[invoice.display_number]["total_net"] == "4.20"
    assert rows[invoice.display_number]["issue_date"] == invoice.issue_date.isoformat()
    assert rows[invoice.display_number]["paid_on"] == ""


def test_credit_notes_negative_amounts_stay_numbers_in_both_formats(documents):
    credit_note = documents.get(kind=DocumentKind.CREDIT_NOTE)

    (csv_row,) = [r for r in export_csv("invoices") if r["kind"] == "credit_note"]
    _header, rows = export_xlsx("invoices")
    (xlsx_row,) = [r for r in rows if r["kind"].value == "credit_note"]

    assert csv_row["total_gross"] == "-5.00"  # no quote: a number, not neutralised text
    assert csv_row["total_energy_kwh"] == "-10.500"
    assert csv_row["credited_document_number"] == credit_note.credited_document.display_number
    assert xlsx_row["total_gross"].data_type == "n"
    assert xlsx_row["total_gross"].value == -5
    assert xlsx_row["amount_due"].value == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_invoice_totals_equal_the_database_sums(documents, fmt):
    if fmt == "csv":
        rows = export_csv("invoices")
        values = [
            {k: Decimal(r[k]) for k in ("total_net", "total_vat", "total_gross")} for r in rows
        ]
    else:
        _header, rows = export_xlsx("invoices")
        values = [
            {k: Decimal(str(r[k].value)) for k in ("total_net", "total_vat", "total_gross")}
            for r in rows
        ]
    database = documents.aggregate(
        total_net=Sum("total_net"), total_vat=Sum("total_vat"), total_gross=Sum("total_gross")
    )

    for column in ("total_net", "total_vat", "total_gross"):
        assert sum(row[column] for row in values) == database[column]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_line_totals_equal_the_database_sums_and_name_session_and_component(documents, fmt):
    if fmt == "csv":
        rows = export_csv("lines")
        nets = [Decimal(r["net"]) for r in rows]
        session_ids = {r["session_id"] for r in rows if r["component"] == "energy"}
    else:
        _header, cells = export_xlsx("lines")
        nets = [Decimal(str(r["net"].value)) for r in cells]
        session_ids = {str(r["session_id"].value or "") for r in cells}
        assert all(r["net"].number_format == "0.00" for r in cells)
        assert all(r["unit_price"].data_type == "n" for r in cells)

    assert len(nets) == DocumentLine.objects.count()
    assert sum(nets) == DocumentLine.objects.aggregate(total=Sum("net"))["total"]
    per_session = DocumentLine.objects.filter(session__isnull=False)
    assert {str(pk) for pk in per_session.values_list("session_id", flat=True)} <= session_ids


def test_unit_prices_keep_up_to_six_decimals_and_at_least_two():
    assert writers.csv_cell(Decimal("0.400000"), Number(2, 6)) == "0.40"
    assert writers.csv_cell(Decimal("0.456700"), Number(2, 6)) == "0.4567"
    assert writers.csv_cell(Decimal("-3.000"), Number(3)) == "-3.000"
    assert writers.csv_cell(Decimal("0E-6"), Number(2)) == "0.00"


def test_sessions_export_has_a_row_per_charge_line_with_the_sessions_columns(documents):
    unpriced = ChargingSessionFactory(operator=documents.first().operator)

    rows = export_csv("sessions")

    lines = SessionChargeLine.objects.all()
    assert len(rows) == lines.count() + 1  # the unpriced session has one row without a line
    assert (
        sum(Decimal(r["gross"]) for r in rows if r["gross"])
        == lines.aggregate(total=Sum("gross"))["total"]
    )
    (empty,) = [r for r in rows if r["session_id"] == str(unpriced.pk)]
    assert empty["component"] == "" and empty["line_position"] == ""
    assert empty["energy_kwh"] == "12.345"
    monthly = documents.get(origin="monthly")
    billed = [r for r in rows if r["document_number"] == monthly.display_number]
    assert {r["session_id"] for r in billed} == {
        str(pk) for pk in monthly.billed_sessions.values_list("session_id", flat=True)
    }
    session = ChargingSession.objects.get(pk=billed[0]["session_id"])
    assert billed[0]["started_at_utc"] == session.started_at.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def test_sessions_export_writes_moments_as_utc_datetimes_in_xlsx(documents):
    _header, rows = export_xlsx("sessions")

    session = ChargingSession.objects.get(pk=rows[0]["session_id"].value)
    cell = rows[0]["started_at_utc"]
    assert cell.is_date
    assert cell.value == session.started_at.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize("what", ["invoices", "lines", "sessions"])
def test_rows_read_in_small_chunks_are_all_there_once(documents, monkeypatch, what):
    everything = export_csv(what)
    monkeypatch.setattr(registry, "CHUNK_SIZE", 2)

    assert export_csv(what) == everything
    assert len(everything) > 2


def test_customers_export_types_flags_and_ids(customer):
    _header, rows = export_xlsx("customers")

    (row,) = rows
    assert row["customer_id"].value == customer.pk
    assert row["requires_invoice"].value is True
    assert row["requires_invoice"].data_type == "b"
    assert export_csv("customers")[0]["requires_invoice"] == "true"


# --- formula injection -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FORMULA_NAMES)
def test_text_starting_with_a_formula_character_is_neutralised_in_csv(operator, name):
    CustomerFactory(operator=operator, name=name, city=name)

    (row,) = export_csv("customers")

    assert row["name"] == "'" + name
    assert row["city"] == "'" + name


@pytest.mark.parametrize("name", FORMULA_NAMES)
def test_text_starting_with_a_formula_character_is_a_neutralised_string_in_xlsx(operator, name):
    CustomerFactory(operator=operator, name=name)

    _header, (row,) = export_xlsx("customers")

    assert row["name"].data_type == "s"  # never "f" (formula)
    assert row["name"].value == "'" + name


def test_recipient_names_on_documents_are_neutralised_but_amounts_are_not(operator):
    customer = CustomerFactory(
        operator=operator, requires_invoice=True, billing_mode="per_session", name="=1+2"
    )
    invoice = issue_invoice_for(customer)
    issue_credit_note(document=invoice, reason="-reason")

    rows = export_csv("invoices")
    _header, cells = export_xlsx("lines")

    assert {r["recipient_name"] for r in rows} == {"'=1+2"}
    assert {r["total_gross"] for r in rows} == {"5.00", "-5.00"}
    assert {c["recipient_name"].value for c in cells} == {"'=1+2"}
    assert {c["net"].value for c in cells} == {4.2, -4.2}


def test_harmless_text_and_inner_formula_characters_are_left_alone():
    assert writers.neutralise("Müller-Lüdenscheidt") == "Müller-Lüdenscheidt"
    assert writers.neutralise("a=b") == "a=b"
    assert writers.neutralise("") == ""


def test_control_characters_xml_cannot_carry_are_dropped_before_neutralising(operator):
    CustomerFactory(operator=operator, name="\x01=cmd\x0b", email="x@example.org")

    (row,) = export_csv("customers")
    _header, (cells,) = export_xlsx("customers")

    assert row["name"] == "'=cmd"
    assert cells["name"].value == "'=cmd"


# --- date range and the command ----------------------------------------------------------------


def test_between_selects_documents_by_issue_date_inclusive(documents):
    issue_date = documents.first().issue_date

    export = registry.get_export("invoices")
    assert export.between(documents, issue_date, issue_date).count() == 4
    assert export.between(documents, None, date(2000, 1, 1)).count() == 0


def test_export_command_writes_an_xlsx_of_the_period(documents, tmp_path, capsys):
    target = tmp_path / "invoices.xlsx"
    day = documents.first().issue_date.isoformat()

    call_command("export", what="invoices", start=day, end=day, output=str(target))

    out, err = capsys.readouterr()
    assert "4 rows of invoices written" in out
    assert "rows" in err  # the progress bar
    workbook = load_workbook(target)
    assert workbook.active.max_row == 5
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_export_command_writes_csv_when_told(documents, tmp_path):
    target = tmp_path / "lines.txt"

    call_command(
        "export", "--what", "lines", "--format", "csv", "--output", str(target), "--no-progress"
    )

    text = target.read_text(encoding="utf-8-sig")
    assert text.startswith("document_id,document_number")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2026-13-01"], "--from must be a date written YYYY-MM-DD"),
        (["--to", "yesterday"], "--to must be a date written YYYY-MM-DD"),
        (["--from", "2026-02-01", "--to", "2026-01-31"], "is after --to"),
        (["--output", "out.pdf"], "Say --format csv or --format xlsx"),
        (["--output", "missing/out.csv"], "does not exist"),
        (["--output", "."], "is a directory"),
    ],
)
def test_export_command_explains_bad_input(tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    options = ["--what", "invoices", "--output", "out.csv", *arguments]

    with pytest.raises(CommandError, match=message):
        call_command("export", *options)
    assert not (tmp_path / "out.csv").exists()


def test_export_command_refuses_an_unknown_export(tmp_path):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export", "--what", "receipts", "--output", str(tmp_path / "x.csv"))


def test_unknown_export_or_format_is_a_sentence():
    with pytest.raises(registry.ExportError, match="no export called 'receipts'"):
        registry.get_export("receipts")
    with pytest.raises(registry.ExportError, match="'pdf' is not an export format"):
        writers.write_export(what="invoices", fmt="pdf", stream=io.BytesIO())


# --- jobs --------------------------------------------------------------------------------------


def test_a_job_is_written_to_storage_once(documents, settings, tmp_path, django_user_model):
    settings.MEDIA_ROOT = tmp_path
    user = django_user_model.objects.create_user("acc", password="x")
    job = ExportJob.objects.create(requested_by=user, what="invoices", format="xlsx")

    claimed = jobs.claim_job(job_id=job.pk)
    jobs.complete_job(job=claimed, queryset=Document.objects.all())

    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    assert job.rows_written == job.rows_total == 4
    assert job.file.name.startswith(f"exports/{job.created_at:%Y/%m}/{job.pk}-invoices-")
    with job.file.open("rb") as handle:
        sheet = load_workbook(handle).active
        assert sheet.max_row == 5
    assert jobs.claim_job(job_id=job.pk) is None  # a second delivery of the task does nothing


def test_progress_that_cannot_be_stored_does_not_fail_the_job(
    documents, monkeypatch, settings, tmp_path
):
    """SQLite refuses a write while the export's read is open when another process wrote."""
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(jobs, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr(writers, "PROGRESS_ROWS", 1)
    refusals = []
    update = QuerySet.update

    def refuse_progress(self, **kwargs):
        if "rows_written" in kwargs:
            refusals.append(kwargs["rows_written"])
            raise OperationalError("database is locked")
        return update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", refuse_progress)
    job = ExportJob.objects.create(what="lines", format="csv")

    jobs.complete_job(job=jobs.claim_job(job_id=job.pk), queryset=Document.objects.all())

    job.refresh_from_db()
    assert refusals
    assert (job.status, job.rows_written) == (ExportJob.Status.DONE, DocumentLine.objects.count())


def test_a_failed_job_keeps_the_reason(django_user_model):
    job = ExportJob.objects.create(what="customers", format="csv")

    jobs.fail_job(job=job, error="disk full")

    job.refresh_from_db()
    assert (job.status, job.error) == (ExportJob.Status.FAILED, "disk full")
    assert job.finished_at is not None
    assert jobs.claim_job(job_id=job.pk) is None


def test_customers_between_uses_the_creation_day(operator):
    customer = CustomerFactory(operator=operator)
    Customer.objects.filter(pk=customer.pk).update(
        created_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    )

    export = registry.get_export("customers")
    assert export.between(Customer.objects.all(), date(2026, 1, 31), date(2026, 1, 31)).count() == 1
    assert export.between(Customer.objects.all(), date(2026, 2, 1), None).count() == 0


# --- the registry and the worker ---------------------------------------------------------------


def test_each_app_registers_its_exports_and_a_name_is_taken_once():
    assert registry.registered() == [
        "invoices",
        "lines",
        "sessions",
        "customers",
        "payments",
        "open_items",
    ]
    customers = registry.get_export("customers")

    assert registry.register(customers) is customers  # registering it again changes nothing
    with pytest.raises(ValueError, match="'customers' is registered already"):
        registry.register(registry.Export("customers", Customer, customers.resource, "created_at"))
    assert registry.get_export("customers") is customers


def test_a_worker_started_for_the_project_knows_the_export_task():
    # The worker imports CELERY_IMPORTS and the apps' tasks modules, not the admin.
    assert "cpo_portal.kernel.exports.tasks" in celery_app.conf.imports
    celery_app.loader.import_default_modules()  # what `celery -A cpo_portal worker` imports

    assert "invoicing.run_export_job" in celery_app.tasks
