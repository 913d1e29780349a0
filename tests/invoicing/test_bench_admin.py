"""The admin-list benchmark (`make bench`) measures every page in a scratch database it drops."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from invoicing.models import Document
from tests.conftest import on_postgresql


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_admin_times_each_list_page_and_leaves_nothing():
    database = connection.settings_dict["NAME"]
    out = StringIO()
    call_command(
        "bench_admin",
        documents=680,
        sessions=3000,
        customers=60,
        locations=4,
        repeat=1,
        stdout=out,
        stderr=StringIO(),
    )

    report = out.getvalue()
    assert "680 documents, 3,000 sessions" in report
    for page in ("first page", "not invoiced + start dates", "search e-mail", "one location"):
        assert page in report
    assert "680 documents" in report.split("first page", 1)[1]  # counted exactly: small
    assert "Meets the target" in report or "Misses the target" in report
    assert connection.settings_dict["NAME"] == database
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"{database}_bench_admin"])
        assert cursor.fetchone() is None
    assert not Document.objects.exists()


@pytest.mark.skipif(on_postgresql(), reason="the refusal on other databases")
def test_bench_admin_needs_postgresql():
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench_admin", stdout=StringIO(), stderr=StringIO())
