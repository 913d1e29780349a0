"""The ingest benchmark (`make bench`) runs, reports its rate and leaves no data behind."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from invoicing.models import Operator, WebhookEvent
from sessions.models import ChargingSession
from tests.bench.results import recorded


@pytest.mark.django_db
def test_bench_ingest_reports_sessions_per_second_and_cleans_up():
    out = StringIO()
    call_command("bench_ingest", sessions=60, batch_size=25, stdout=out, stderr=StringIO())
    assert "Ingested 60 sessions" in out.getvalue()
    assert "sessions/s" in out.getvalue()
    assert not ChargingSession.objects.exists()
    assert not Operator.objects.exists()


@pytest.mark.django_db
def test_bench_ingest_refuses_a_webhook_without_the_api():
    with pytest.raises(CommandError, match="--webhook goes with --api"):
        call_command("bench_ingest", webhook=True, stdout=StringIO())
    assert not Operator.objects.exists()


@pytest.mark.django_db
def test_bench_ingest_keep_leaves_the_priced_sessions():
    call_command("bench_ingest", sessions=10, keep=True, stdout=StringIO(), stderr=StringIO())
    assert ChargingSession.objects.filter(total_net__isnull=False).count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_ingest_through_the_api_sends_bulk_requests_to_a_real_server(tmp_path, monkeypatch):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    out = StringIO()
    call_command(
        "bench_ingest",
        api=True,
        sessions=30,
        batch_size=10,
        workers=1,
        clients=2,
        webhook=True,
        stdout=out,
        stderr=StringIO(),
    )
    report = out.getvalue()
    assert "Ingested 30 sessions into postgresql through the API" in report
    assert "3 requests of up to 10 sessions" in report
    assert "webhook outbox: 30 session.priced deliveries written" in report
    assert "the target: " in report and "sessions/s against a target of >= 2,000/s" in report
    assert "COPY baseline: 30 sessions + " in report
    assert "With the tables' foreign keys checked at commit, as the ingest's are" in report
    assert "Peak memory (VmHWM): gunicorn workers max " in report
    assert "  Profile" in report
    (row,) = recorded(results)
    assert row["work"] == "api_ingest_webhook"
    assert row["sessions"] == 30 and row["copy_seconds"] > 0 and row["copy_fk_seconds"] > 0
    assert len([name for name in row["peaks_kb"] if name.startswith("worker-")]) == 1
    assert not WebhookEvent.objects.exists()
    assert not ChargingSession.objects.exists()
    assert not Operator.objects.exists()


@pytest.mark.django_db
def test_bench_ingest_refuses_api_requests_larger_than_the_api_takes():
    with pytest.raises(CommandError, match="at most 1000 sessions per request"):
        call_command("bench_ingest", api=True, batch_size=1001, stdout=StringIO())
    assert not Operator.objects.exists()
