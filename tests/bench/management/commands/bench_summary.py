"""The end of `make bench`: billing and API ingest against PostgreSQL's COPY of the same rows,
and what a subscribed webhook costs the ingest, as one Markdown table (docs/operations.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tests.bench.processes import machine
from tests.bench.report import mb, table
from tests.bench.results import recorded

BILLING_TARGET_RATIO = 3
INGEST_TARGET_RATIO = 5
WEBHOOK_TARGET_COST = 0.10  # the webhook may cost the API ingest at most 10 % of its rate


class Command(BaseCommand):
    help = (
        "Print the figures make bench recorded (BENCH_RESULTS) as one table: each run's time, "
        "the COPY of the same rows, the ratio, peak memory per process and the target."
    )

    def add_arguments(self, parser):
        parser.add_argument("results", help="The file make bench recorded into (BENCH_RESULTS).")

    def handle(self, *args, results: str, **options):
        rows = recorded(results)
        if not rows:
            raise CommandError(
                f"{results} holds no figures: run the billing and API ingest benchmarks with "
                "BENCH_RESULTS set to it (make bench does)."
            )
        billing = [r for r in rows if r["work"] == "billing"]
        plain = _last(rows, "api_ingest")
        webhook = _last(rows, "api_ingest_webhook")
        lines = []
        for run in billing:
            lines.append(_billing_row(run))
        if plain:
            lines.append(_ingest_row(plain))
        if plain and webhook:
            lines.append(_webhook_row(plain, webhook))
        self.stdout.write(f"Measured on {machine()}.\n")
        self.stdout.write(
            _markdown(
                [
                    "work",
                    "this run",
                    "COPY of the same rows",
                    "ratio",
                    "target",
                    "peak memory",
                    "COPY with the foreign keys (ratio)",
                ],
                lines,
            )
        )
        if len(billing) > 1:
            self.stdout.write("\nBilling time per session as the month grows (flat = linear):")
            self.stdout.write(
                table(
                    [">sessions", ">customers", ">run", ">per session", ">peak memory"],
                    [
                        [
                            f"{r['sessions']:,}",
                            f"{r['customers']:,}",
                            f"{r['seconds']:.1f} s",
                            f"{r['seconds'] / r['sessions'] * 1e6:.1f} µs",
                            mb(max(r["peaks_kb"].values(), default=0)),
                        ]
                        for r in billing
                    ],
                )
            )


def _last(rows: list[dict], work: str) -> dict | None:
    return next((r for r in reversed(rows) if r["work"] == work), None)


def _billing_row(run: dict) -> list[str]:
    ratio = run["seconds"] / run["copy_seconds"] if run["copy_seconds"] else 0.0
    pool = [kb for name, kb in run["peaks_kb"].items() if name.startswith("pool-")]
    return [
        f"monthly billing run, {run['customers']:,} customers, {run['sessions']:,} sessions, "
        f"{run['workers']} workers",
        f"{run['seconds']:.1f} s ({run['sessions'] / run['seconds']:,.0f} sessions/s)",
        f"{run['copy_seconds']:.2f} s ({run['documents']:,} documents, {run['lines']:,} lines, "
        f"{run['sessions']:,} session links)",
        _ratio(ratio, BILLING_TARGET_RATIO),
        f"<= {BILLING_TARGET_RATIO}x",
        f"pool {mb(max(pool, default=0))}, worker main {mb(run['peaks_kb'].get('main', 0))}, "
        f"bench {mb(run['peaks_kb'].get('bench', 0))}",
        _with_foreign_keys(run),
    ]


def _ingest_row(run: dict) -> list[str]:
    ratio = run["seconds"] / run["copy_seconds"] if run["copy_seconds"] else 0.0
    return [
        f"API bulk ingest, {run['sessions']:,} sessions ({run['lines']:,} lines), "
        f"{run['workers']} gunicorn workers",
        f"{run['seconds']:.1f} s ({run['sessions'] / run['seconds']:,.0f} sessions/s)",
        f"{run['copy_seconds']:.2f} s (sessions and lines)",
        _ratio(ratio, INGEST_TARGET_RATIO),
        f"<= {INGEST_TARGET_RATIO}x",
        _gunicorn_peaks(run),
        _with_foreign_keys(run),
    ]


def _webhook_row(plain: dict, webhook: dict) -> list[str]:
    rate = webhook["sessions"] / webhook["seconds"]
    cost = 1 - rate / (plain["sessions"] / plain["seconds"])
    verdict = "met" if cost <= WEBHOOK_TARGET_COST else "missed"
    return [
        "API ingest with a session.priced webhook subscribed",
        f"{webhook['seconds']:.1f} s ({rate:,.0f} sessions/s)",
        "",
        f"{-cost:+.0%} against without ({verdict})",
        f">= -{WEBHOOK_TARGET_COST:.0%}",
        _gunicorn_peaks(webhook),
        "",
    ]


def _with_foreign_keys(run: dict) -> str:
    """The same COPY with the tables' foreign keys: what the rows' integrity costs PostgreSQL."""
    seconds = run.get("copy_fk_seconds")
    return f"{seconds:.2f} s ({run['seconds'] / seconds:.1f}x)" if seconds else ""


def _ratio(ratio: float, target: int) -> str:
    return f"{ratio:.1f}x ({'met' if ratio and ratio <= target else 'missed'})"


def _gunicorn_peaks(run: dict) -> str:
    workers = [kb for name, kb in run["peaks_kb"].items() if name.startswith("worker-")]
    return f"workers {mb(max(workers, default=0))}, master {mb(run['peaks_kb'].get('master', 0))}"


def _markdown(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
