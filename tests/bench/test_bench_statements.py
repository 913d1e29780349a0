"""The statement benchmark (`make bench`) imports a camt.053 against as many open invoices and
says whether time and memory meet the targets."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import on_postgresql


@pytest.mark.skipif(not on_postgresql(), reason="needs PostgreSQL; CI runs it there")
@pytest.mark.django_db(transaction=True)
def test_bench_statements_reports_time_matches_and_memory_against_the_targets():
    out = StringIO()
    call_command("bench_statements", "--credits", "300", stdout=out)
    report = out.getvalue()
    matched, review = map(int, re.search(r"([\d,]+) matched, ([\d,]+) to review", report).groups())
    assert matched + review == 300 and review >= 1
    assert re.search(r"Statement target (met|missed): [\d.]+ s for 100,000 credits", report)
    assert re.search(r"after the first chunk \(the 300 open invoices indexed\)", report)
    assert re.search(r"Memory (flat|grew): the rest of the statement added \d+%", report)


def test_bench_statements_refuses_a_tiny_statement():
    with pytest.raises(CommandError, match="at least 100"):
        call_command("bench_statements", "--credits", "5", stdout=StringIO())


@pytest.mark.skipif(on_postgresql(), reason="the refusal on other databases")
def test_bench_statements_needs_postgresql():
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench_statements", "--credits", "300", stdout=StringIO())
