"""The billing-run benchmark (`make bench`) bills every session through Celery and cleans up."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from invoicing.models import Document, Operator


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_billing_bills_every_session_in_a_celery_worker_and_leaves_nothing():
    database = connection.settings_dict["NAME"]
    out = StringIO()
    call_command(
        "bench_billing", customers=20, sessions=200, workers=1, stdout=out, stderr=StringIO()
    )
    report = out.getvalue()
    assert "by 1 Celery worker process" in report
    assert "Billed 200 of 200 sessions on 20 documents" in report
    assert "sessions/s" in report
    assert "COPY baseline: 20 documents" in report
    assert "With the tables' foreign keys checked at commit, as the run's are" in report
    assert "worker pool processes max" in report
    assert "  Profile" in report
    assert connection.settings_dict["NAME"] == database
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [f"{database}_bench_billing"]
        )
        assert cursor.fetchone() is None
    assert not Operator.objects.exists()
    assert not Document.objects.exists()


@pytest.mark.postgres
def test_bench_billing_refuses_a_broker_worker_processes_cannot_share(settings):
    settings.CELERY_BROKER_URL = "memory://"
    with pytest.raises(CommandError, match="broker"):
        call_command("bench_billing", stdout=StringIO(), stderr=StringIO())
