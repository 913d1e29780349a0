"""The admin-list benchmark (`make bench`) measures every page in a scratch database it drops."""

import re
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
        api_repeat=2,
        stdout=out,
        stderr=StringIO(),
    )

    report = out.getvalue()
    assert "680 documents, 3,000 sessions" in report
    for page in ("first page", "not invoiced + start dates", "search e-mail", "one location"):
        assert page in report
    assert "680 documents" in report.split("first page", 1)[1]  # counted exactly: small
    assert "Meets the target" in report or "Misses the target" in report
    # The payment ledger, its allocations, the review queue and the card-terminal payments:
    # one paid document in the data is one payment with its allocation.
    listed = {
        (found["list"], found["page"]): int(found["rows"])
        for found in re.finditer(
            r"^  (?P<list>payments|allocations|review queue|terminal payments)\s+"
            r"(?P<page>\S.*?)\s+\d+ ms\s+\d+ ms\s+\d+ ms\s+\d+ ms\s+\d+\s+(?P<rows>\d+) ",
            report,
            re.M,
        )
    }
    assert listed[("payments", "first page")] == listed[("allocations", "first page")] == 100
    assert listed[("review queue", "first page (to review)")] >= 1
    assert listed[("terminal payments", "first page")] >= 1
    (reference,) = [page for kind, page in listed if page.startswith("search reference")]
    assert listed[("payments", reference)] == 1
    # The integrator API's invoice list, measured in the same data with a read key.
    api, payments = report.split("Integrator API invoice list", 1)[1].split(
        "Integrator API payment list", 1
    )
    assert "/api/v1/invoices/" in api
    rows = {
        found["page"].split(" ", 1)[0]: int(found["rows"])
        for found in re.finditer(
            r"^  (?P<page>\S.*?)\s+\d+ ms\s+\d+ ms\s+\d+ ms\s+\d+\s+(?P<rows>\d+)$", api, re.M
        )
    }
    assert rows["first"] == 50
    assert rows["page_size=500"] == 500  # 680 documents: a full page of the largest size
    assert rows["kind=credit_note"] == 680 // 34  # one document in 34
    (number,) = [page for page in rows if page.startswith("number=")]
    assert rows[number] == 1
    # The deep page, reached through `next` links: 680 documents make 14 pages of 50.
    assert "page 14 (after 13 next links)" in api
    assert rows["page"] == 680 - 13 * 50
    assert "the same" in api and "queries on every page" in api
    assert "all 14 timed API requests: p95" in api  # 7 pages, 2 each
    assert "API invoice list meets the target" in api or "API invoice list misses" in api
    assert "/api/v1/payments/" in payments and "next links)" in payments
    assert "API payment list meets the target" in payments or "payment list misses" in payments
    assert connection.settings_dict["NAME"] == database
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"{database}_bench_admin"])
        assert cursor.fetchone() is None
    assert not Document.objects.exists()


@pytest.mark.skipif(on_postgresql(), reason="the refusal on other databases")
def test_bench_admin_needs_postgresql():
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("bench_admin", stdout=StringIO(), stderr=StringIO())
