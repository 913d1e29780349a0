"""make bench ends with one table: billing and ingest against COPY, and the webhook's cost."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.bench.results import record


@pytest.mark.django_db
def test_the_summary_sets_each_run_against_its_copy_baseline_and_target(tmp_path, monkeypatch):
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    peaks = {"master": 30 * 1024, "worker-1": 180 * 1024, "worker-2": 190 * 1024}
    for sessions, seconds in [(250_000, 25.0), (1_000_000, 110.0)]:
        record(
            "billing",
            customers=sessions // 10,
            sessions=sessions,
            documents=sessions // 10,
            lines=sessions // 5,
            seconds=seconds,
            copy_seconds=10.0,
            copy_fk_seconds=22.0,
            workers=2,
            peaks_kb={"bench": 100 * 1024, "main": 120 * 1024, "pool-7": 150 * 1024},
            profile={},
        )
    common = {"lines": 154_044, "copy_seconds": 4.0, "workers": 2, "peaks_kb": peaks}
    record("api_ingest", sessions=100_000, seconds=16.0, profile={}, **common)
    record("api_ingest_webhook", sessions=100_000, seconds=20.0, profile={}, **common)
    out = StringIO()
    call_command("bench_summary", str(results), stdout=out)
    report = out.getvalue()
    assert (
        "| monthly billing run, 100,000 customers, 1,000,000 sessions, 2 workers | "
        "110.0 s (9,091 sessions/s) | 10.00 s (100,000 documents, 200,000 lines, "
        "1,000,000 session links) | 11.0x (missed) | <= 3x | pool 150 MB, worker main 120 MB, "
        "bench 100 MB | 22.00 s (5.0x) |"
    ) in report
    assert "| 2.5x (met) | <= 3x |" in report  # the 250,000-session month
    assert (
        "| API bulk ingest, 100,000 sessions (154,044 lines), 2 gunicorn workers | 16.0 s "
        "(6,250 sessions/s) | 4.00 s (sessions and lines) | 4.0x (met) | <= 5x | "
        "workers 190 MB, master 30 MB |"
    ) in report
    assert "| -20% against without (missed) | >= -10% |" in report
    assert "100.0 µs" in report and "110.0 µs" in report  # time per session as months grow


def test_the_summary_of_nothing_recorded_says_what_to_run(tmp_path):
    with pytest.raises(CommandError, match="holds no figures: run the billing and API ingest"):
        call_command("bench_summary", str(tmp_path / "none.jsonl"), stdout=StringIO())
