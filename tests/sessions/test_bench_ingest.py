"""The ingest benchmark (`make bench`) runs, reports its rate and leaves no data behind."""

from io import StringIO

import pytest
from django.core.management import call_command

from invoicing.models import Operator
from sessions.models import ChargingSession


@pytest.mark.django_db
def test_bench_ingest_reports_sessions_per_second_and_cleans_up():
    out = StringIO()
    call_command("bench_ingest", sessions=60, batch_size=25, stdout=out, stderr=StringIO())
    assert "Ingested 60 sessions" in out.getvalue()
    assert "sessions/s" in out.getvalue()
    assert not ChargingSession.objects.exists()
    assert not Operator.objects.exists()


@pytest.mark.django_db
def test_bench_ingest_keep_leaves_the_priced_sessions():
    call_command("bench_ingest", sessions=10, keep=True, stdout=StringIO(), stderr=StringIO())
    assert ChargingSession.objects.filter(total_net__isnull=False).count() == 10
