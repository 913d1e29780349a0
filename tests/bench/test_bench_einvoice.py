"""The e-invoice benchmark (`make bench`) times XML generation and validation per invoice."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db(transaction=True)
def test_bench_einvoice_reports_generation_and_validation_per_format_beside_the_pdf():
    out = StringIO()
    call_command("bench_einvoice", "--invoices", "3", stdout=out, stderr=StringIO())
    report = out.getvalue()
    assert "PDF render of the same invoices: median" in report
    for label in (
        "XRechnung (CII)",
        "XRechnung (UBL)",
        "Factur-X / ZUGFeRD EN 16931 (PDF with XML)",
    ):
        assert f"{label}: XML " in report
    assert "first validation with compiling" in report


def test_bench_einvoice_refuses_fewer_than_two_invoices():
    with pytest.raises(CommandError, match="at least 2"):
        call_command("bench_einvoice", "--invoices", "1", stdout=StringIO())
