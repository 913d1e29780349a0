"""The tax-audit export (GDPdU "Z3"): a period's documents, lines, VAT, payments and sessions as
CSV tables described by index.xml, in one ZIP, from the command and the admin."""

from __future__ import annotations

import hashlib
import io
import zipfile
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from lxml import etree

from customers.models import EInvoiceFormat
from invoicing.accounting.tax_audit import TABLES
from invoicing.models import EInvoice, InvoicingSettings
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from invoicing.payments.recording import record_payment
from tests.invoicing.helpers import issue_invoice_for

# The content model of the GDPdU description standard (DTD of 01-09-2004) for the elements the
# export writes; index.xml must be valid against it.
GDPDU_DTD = """
<!ELEMENT DataSet (Version, DataSupplier?, Media+)>
<!ELEMENT Version (#PCDATA)>
<!ELEMENT DataSupplier (Name, Location, Comment)>
<!ELEMENT Media (Name, Table+)>
<!ELEMENT Table (URL, Name?, Description?, Validity?, UTF8?, (DecimalSymbol, DigitGroupingSymbol)?,
                 Range?, VariableLength)>
<!ELEMENT Validity (Range, Format?)>
<!ELEMENT Range (From, (To | Length)?)>
<!ELEMENT VariableLength (ColumnDelimiter?, RecordDelimiter?, TextEncapsulator?,
                          ((VariablePrimaryKey+, VariableColumn*) | VariableColumn+), ForeignKey*)>
<!ELEMENT VariablePrimaryKey (Name, Description?, (Numeric | AlphaNumeric | Date))>
<!ELEMENT VariableColumn (Name, Description?, (Numeric | AlphaNumeric | Date))>
<!ELEMENT ForeignKey (Name+, References)>
<!ELEMENT Numeric (Accuracy?)>
<!ELEMENT Date (Format?)>
<!ELEMENT AlphaNumeric EMPTY>
<!ELEMENT UTF8 EMPTY>
<!ELEMENT Name (#PCDATA)> <!ELEMENT Location (#PCDATA)> <!ELEMENT Comment (#PCDATA)>
<!ELEMENT URL (#PCDATA)> <!ELEMENT Description (#PCDATA)> <!ELEMENT Format (#PCDATA)>
<!ELEMENT From (#PCDATA)> <!ELEMENT To (#PCDATA)> <!ELEMENT Length (#PCDATA)>
<!ELEMENT DecimalSymbol (#PCDATA)> <!ELEMENT DigitGroupingSymbol (#PCDATA)>
<!ELEMENT ColumnDelimiter (#PCDATA)> <!ELEMENT RecordDelimiter (#PCDATA)>
<!ELEMENT TextEncapsulator (#PCDATA)> <!ELEMENT Accuracy (#PCDATA)>
<!ELEMENT References (#PCDATA)>
"""


def read_table(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    text = archive.read(f"{name}.csv").decode("utf-8")
    assert text.endswith("\r\n")
    return [[cell.strip('"') for cell in record.split(";")] for record in text.split("\r\n")[:-1]]


def amount(cell: str) -> Decimal:
    return Decimal(cell.replace(",", "."))


@pytest.mark.django_db
def test_a_month_exports_its_documents_lines_vat_payments_and_sessions(monthly_company, tmp_path):
    document = issue_invoice_for(monthly_company, sessions=3)
    record_payment(document=document, amount=Decimal("5.00"), paid_on=document.issue_date)
    out = tmp_path / "audit.zip"
    period = f"{document.issue_date:%Y-%m}"

    call_command("export_tax_audit", "--period", period, "--out", str(out))

    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted(["index.xml", *(t.url for t in TABLES)])
        index = etree.fromstring(archive.read("index.xml"))
        dtd = etree.DTD(io.StringIO(GDPDU_DTD))
        assert dtd.validate(index), dtd.error_log.filter_from_errors()
        described = {
            table.findtext("URL"): [
                c.findtext("Name") for c in table.iter("VariablePrimaryKey", "VariableColumn")
            ]
            for table in index.iter("Table")
        }
        assert index.find(".//RecordDelimiter").text == "\r\n"
        tables = {t.name: read_table(archive, t.name) for t in TABLES}

    for table in TABLES:
        header, *_rows = tables[table.name]
        assert header == described[table.url]
    (doc_row,) = tables["documents"][1:]
    doc = dict(zip(tables["documents"][0], doc_row, strict=True))
    assert doc["number"] == document.display_number
    assert doc["issue_date"] == f"{document.issue_date:%d.%m.%Y}"
    assert amount(doc["total_gross"]) == document.total_gross
    lines = [dict(zip(tables["lines"][0], r, strict=True)) for r in tables["lines"][1:]]
    assert sum(amount(line["net"]) for line in lines) == document.total_net
    vat = [dict(zip(tables["vat"][0], r, strict=True)) for r in tables["vat"][1:]]
    assert sum(amount(v["vat"]) for v in vat) == document.total_vat
    (payment,) = tables["payments"][1:]
    assert "5,00" in payment
    assert len(tables["sessions"]) == 1 + 3


@pytest.mark.django_db
def test_a_period_that_is_not_a_month_or_year_is_refused_with_a_sentence(operator, tmp_path):
    with pytest.raises(CommandError, match="is not a period; write a month as YYYY-MM"):
        call_command("export_tax_audit", "--period", "11/2026", "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


@pytest.mark.django_db
def test_the_admin_downloads_the_export_as_a_zip(admin_client, monthly_company):
    document = issue_invoice_for(monthly_company)

    response = admin_client.post(
        "/admin/invoicing/archiveentry/tax-audit-export/",
        {"operator": monthly_company.operator_id, "period": f"{document.issue_date:%Y}"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert document.display_number in archive.read("documents.csv").decode()


@pytest.mark.django_db
def test_the_admin_says_what_is_wrong_with_a_period(admin_client, operator):
    response = admin_client.post(
        "/admin/invoicing/archiveentry/tax-audit-export/",
        {"operator": operator.pk, "period": "2026-13"},
    )
    assert response.status_code == 200
    assert "is not a period" in response.content.decode()


@pytest.mark.django_db
def test_the_export_holds_each_e_invoice_as_issued_and_index_xml_describes_it(
    monthly_company, tmp_path
):
    operator = monthly_company.operator
    operator.phone = "+49 30 1234567"
    operator.save()
    InvoicingSettings.objects.filter(operator=operator).update(
        einvoice_format=EInvoiceFormat.FACTURX, iban="DE02120300000000202051"
    )
    with_xml = issue_invoice_for(monthly_company, sessions=2)
    out = tmp_path / "audit.zip"

    call_command("export_tax_audit", "--period", f"{with_xml.issue_date:%Y-%m}", "--out", str(out))

    einvoice = EInvoice.objects.get(document=with_xml)
    with zipfile.ZipFile(out) as archive:
        (row,) = read_table(archive, "einvoices")[1:]
        header = read_table(archive, "einvoices")[0]
        listed = dict(zip(header, row, strict=True))
        xml = archive.read(listed["file"])
        index = etree.fromstring(archive.read("index.xml"))
        assert etree.DTD(io.StringIO(GDPDU_DTD)).validate(index)
    assert listed["file"].startswith("einvoices/") and with_xml.display_number in listed["file"]
    assert xml == bytes(einvoice.xml)
    assert listed["sha256"] == hashlib.sha256(xml).hexdigest()
    assert listed["format"].startswith("Factur-X") and listed["valid"] == "yes"
    # Read back as the auditor would: the XML names the document it belongs to.
    assert etree.fromstring(xml).findtext(".//{*}ExchangedDocument/{*}ID") == (
        with_xml.display_number
    )
    urls = {table.findtext("URL"): table for table in index.iter("Table")}
    assert "einvoices/" in urls["einvoices.csv"].findtext("Description")
    assert [c.findtext("Name") for c in urls["einvoices.csv"].iter("VariableColumn")] == header[1:]


def test_a_returned_payment_is_a_negative_row_naming_its_transaction(monthly_company, tmp_path):
    document = issue_invoice_for(monthly_company)
    payment = record_payment(
        document=document, amount=document.total_gross, paid_on=document.issue_date
    )
    ledger.record_transaction(
        ledger.TransactionFacts(
            operator=document.operator,
            provider="manual",
            provider_reference="return-1",
            kind=TransactionKind.DIRECT_DEBIT_RETURN,
            status="succeeded",
            amount=payment.amount,
            currency=document.currency,
            parent=payment.transaction,
            value_date=document.issue_date,
            failure_reason="AC04 Account closed",
        )
    )
    out = tmp_path / "audit.zip"

    call_command("export_tax_audit", "--period", f"{document.issue_date:%Y-%m}", "--out", str(out))

    with zipfile.ZipFile(out) as archive:
        header, *rows = read_table(archive, "payments")
    received, returned = (dict(zip(header, row, strict=True)) for row in rows)
    assert amount(received["amount"]) == document.total_gross
    assert amount(returned["amount"]) == -document.total_gross
    assert (received["transaction_kind"], returned["transaction_kind"]) == (
        "manual",
        "direct_debit_return",
    )
    assert returned["provider_reference"] == "return-1"
