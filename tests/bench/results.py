"""The figures `make bench` sums up at its end: each benchmark appends its row to the file that
BENCH_RESULTS names (make bench sets it; a benchmark run alone records nothing), and
`manage.py bench_summary` prints them as one table."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["record", "recorded"]


def record(work: str, **figures) -> None:
    """Append one benchmark's figures (JSON-serialisable) under the name of the work measured."""
    path = os.environ.get("BENCH_RESULTS")
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as results:
        results.write(json.dumps({"work": work, **figures}) + "\n")


def recorded(path: str | Path) -> list[dict]:
    """Every row recorded in the file, oldest first; none when it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
