"""The archive benchmark (`make bench`) archives and verifies, and prints both figures."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db(transaction=True)
def test_bench_archive_prints_the_archiving_rate_and_the_verify_time():
    out = StringIO()
    call_command("bench_archive", "--entries", "1500", stdout=out, stderr=StringIO())
    assert "Archived 1500 entries in " in out.getvalue()
    assert "Verified 1500 entries and 1500 files in " in out.getvalue()
    assert "for 100000 entries" in out.getvalue()


def test_bench_archive_refuses_a_non_positive_entry_count():
    with pytest.raises(CommandError, match="--entries must be at least 1"):
        call_command("bench_archive", "--entries", "0", stdout=StringIO())
