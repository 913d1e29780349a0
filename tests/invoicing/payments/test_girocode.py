"""The EPC QR code (GiroCode) on open EUR invoices, read back from the PDF by a real decoder."""

from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal

import pytest

from invoicing.documents.models import Document, DocumentStatus
from invoicing.models import InvoicingSettings
from invoicing.output import pdf
from tests.invoicing.helpers import issue_invoice_for


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {name}: apt-get install {package}")
        pytest.skip(f"{name} (Debian package {package}) is not installed")
    return path


def scanned(document: Document, tmp_path) -> list[str]:
    """What a banking app reads from the first page: the QR codes' texts."""
    source = tmp_path / "invoice.pdf"
    source.write_bytes(pdf.render_pdf(document))
    pdftoppm = tool("pdftoppm", "poppler-utils")
    subprocess.run(
        [
            pdftoppm,
            "-r",
            "150",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            source,
            tmp_path / "p",
        ],
        check=True,
    )
    result = subprocess.run(
        [tool("zbarimg", "zbar-tools"), "--raw", "-q", "-Sbinary", tmp_path / "p.png"],
        capture_output=True,
    )
    text = result.stdout.decode("utf-8")
    return [text.rstrip("\n")] if text.strip() else []


@pytest.fixture
def invoice(operator, monthly_company):
    InvoicingSettings.objects.filter(operator=operator).update(
        iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX"
    )
    return issue_invoice_for(monthly_company)


@pytest.mark.django_db
def test_an_open_invoice_carries_a_girocode_with_iban_amount_and_number(invoice, tmp_path):
    (payload,) = scanned(invoice, tmp_path)

    lines = payload.split("\n")
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[4] == "COBADEFFXXX"
    assert lines[5] == invoice.profile.supplier["legal_name"]
    assert lines[6] == "DE89370400440532013000"
    assert lines[7] == f"EUR{invoice.total_gross}"
    assert lines[10] == invoice.display_number


@pytest.mark.django_db
def test_the_code_asks_only_for_what_is_still_due(invoice, tmp_path):
    Document.objects.filter(pk=invoice.pk).update(amount_paid=Decimal("1.00"))
    invoice.refresh_from_db()

    (payload,) = scanned(invoice, tmp_path)

    assert payload.split("\n")[7] == f"EUR{invoice.total_gross - Decimal('1.00')}"


@pytest.mark.django_db
def test_no_code_without_an_iban_or_on_a_paid_invoice(invoice, tmp_path):
    Document.objects.filter(pk=invoice.pk).update(
        status=DocumentStatus.PAID, amount_paid=invoice.total_gross
    )
    invoice.refresh_from_db()
    assert scanned(invoice, tmp_path) == []

    InvoicingSettings.objects.filter(operator=invoice.operator).update(iban="")
    without_iban = issue_invoice_for(invoice.customer)
    assert without_iban.status == DocumentStatus.ISSUED
    assert scanned(without_iban, tmp_path) == []
