"""The collection-run benchmark (`make bench`) times one validated pain.008 for many invoices."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_bench_collections_reports_the_file_time_against_the_target():
    out = StringIO()
    call_command("bench_collections", "--invoices", "50", stdout=out)
    report = out.getvalue()
    assert "pain.008 for 50 invoices:" in report and "validated against the XSD" in report
    assert "for 100000 invoices" in report


def test_bench_collections_refuses_no_invoices():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("bench_collections", "--invoices", "0", stdout=StringIO())
