"""Every benchmark prints its figures the same way (tests/bench/report.py)."""

from django.core.management.color import no_style

from tests.bench.report import percentile, table, verdict


def test_percentile_is_the_nearest_rank():
    timings = [float(ms) for ms in range(1, 21)]
    assert percentile(timings, 95) == 19.0
    assert percentile(timings, 50) == 10.0
    assert percentile([7.0], 95) == 7.0


def test_table_aligns_titles_and_right_aligns_number_columns():
    text = table(["page", ">median"], [["first page", "12 ms"], ["page 50", "140 ms"]])
    assert text.splitlines() == [
        "  page       median",
        "  first page  12 ms",
        "  page 50    140 ms",
    ]


def test_verdict_says_met_or_missed():
    assert verdict(no_style(), within=True, met="Meets", missed="Misses") == "Meets"
    assert verdict(no_style(), within=False, met="Meets", missed="Misses") == "Misses"
