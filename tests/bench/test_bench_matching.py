"""The matching benchmark (`make bench`): a fixed-seed small run in CI, 100,000 by default."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def test_bench_matching_prints_time_memory_and_accuracy_on_a_fixed_seed():
    out = StringIO()
    call_command("bench_matching", "--sessions", "2400", "--seed", "3", stdout=out)
    text = out.getvalue()
    assert " 0 wrongly" in text
    assert "Meets the matching targets" in text


def test_bench_matching_refuses_a_tiny_set():
    with pytest.raises(CommandError, match="at least 24"):
        call_command("bench_matching", "--sessions", "3", stdout=StringIO())
