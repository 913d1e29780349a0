"""How every benchmark prints its figures: percentiles, aligned tables and the verdict line."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from django.core.management.color import Style

__all__ = ["mb", "percentile", "table", "verdict"]


def percentile(values: Iterable[float], percent: float) -> float:
    """Nearest rank: the smallest value that at least `percent` % of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def verdict(style: Style, *, within: bool, met: str, missed: str) -> str:
    """The line that says whether a figure meets its target: green when it does, else yellow."""
    return style.SUCCESS(met) if within else style.WARNING(missed)


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, indent: str = "  ") -> str:
    """Rows of ready-formatted cells under their column titles, one space apart.

    A title starting with ">" right-aligns its column (numbers); the last column is not padded.
    """
    rows = [list(row) for row in rows]
    right = [title.startswith(">") for title in columns]
    titles = [title.removeprefix(">") for title in columns]
    widths = [max([len(t), *(len(row[i]) for row in rows)]) for i, t in enumerate(titles)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if align_right else cell.ljust(width)
            for cell, width, align_right in zip(cells, widths, right, strict=True)
        ]
        return (indent + " ".join(padded)).rstrip()

    return "\n".join([line(titles), *(line(row) for row in rows)])


def mb(kb: int) -> str:
    """A memory figure in kB as whole MB."""
    return f"{kb / 1024:.0f} MB"
