"""The receipt latency benchmark (`make bench`) issues receipts through a real worker process
and prints p50/p95 against the 5 s target."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import on_postgresql


@pytest.mark.django_db(transaction=True)
def test_bench_receipts_prints_p50_and_p95(settings):
    if not on_postgresql():
        pytest.skip("the receipt latency benchmark needs PostgreSQL")
    out = StringIO()
    call_command(
        "bench_receipts", "--receipts", "3", "--interval", "0", stdout=out, stderr=StringIO()
    )
    assert "3 receipts" in out.getvalue()
    assert "p50" in out.getvalue() and "p95" in out.getvalue()
    assert "the 5 s target" in out.getvalue()


def test_bench_receipts_refuses_a_non_positive_count():
    with pytest.raises(CommandError, match="--receipts must be positive"):
        call_command("bench_receipts", "--receipts", "0", stdout=StringIO())
