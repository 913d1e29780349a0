"""The pricing benchmark (`make bench`) prints the sessions priced per second (no database)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_bench_pricing_prints_the_sessions_per_second():
    out = StringIO()
    call_command("bench_pricing", "--sessions", "300", stdout=out, stderr=StringIO())
    assert "Priced 300 sessions in " in out.getvalue()
    assert " sessions/s" in out.getvalue()


def test_bench_pricing_refuses_a_non_positive_session_count():
    with pytest.raises(CommandError, match="--sessions must be at least 1"):
        call_command("bench_pricing", "--sessions", "0", stdout=StringIO())
