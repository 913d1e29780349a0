"""What every benchmark measures besides the clock: a process's children, CPU time and peak
memory, and PostgreSQL's own COPY of the rows the work wrote (the yardstick of its ratio)."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Model
from psycopg import sql

__all__ = [
    "CopyBaseline",
    "children",
    "copy_baseline",
    "cpu_seconds",
    "machine",
    "peak_memory_kb",
    "reset_peak_memory",
]


@dataclass(frozen=True)
class CopyBaseline:
    """Seconds PostgreSQL takes to COPY the same rows: bare, and checked by the foreign keys."""

    seconds: float
    with_foreign_keys: float

    def compared(self, elapsed: float, *, work: str) -> str:
        """How many times longer the work took than each COPY, as the benchmarks report it."""
        return (
            f"{self.seconds:.2f} s; the {work} takes {elapsed / self.seconds:.1f} times as long. "
            f"With the tables' foreign keys checked at commit, as the {work}'s are, the same "
            f"COPY takes {self.with_foreign_keys:.2f} s "
            f"({elapsed / self.with_foreign_keys:.1f} times as long)."
        )


def copy_baseline(tables: Sequence[tuple[type[Model], sql.Composable]]) -> CopyBaseline:
    """COPY the rows of each (model, WHERE clause) into empty tables of the same shape."""
    # Into empty tables of the same shape (columns, indexes, checks; no foreign keys or
    # triggers), committed: what bulk-loading the same rows costs PostgreSQL at the least.
    # Then again with the tables' foreign keys (deferred, checked at commit like the work's
    # own): what the integrity of those rows costs PostgreSQL alone. Triggers stay out: the
    # guards refuse rows for documents already issued.
    with tempfile.TemporaryDirectory(prefix="bench_copy_") as folder:
        # The rows leave PostgreSQL first (not timed): the baseline times only loading them.
        exported: list[tuple[str, sql.Composed, Path]] = []
        with connection.cursor() as cursor:
            for model, where in tables:
                table = model._meta.db_table
                columns = _columns(model)
                path = Path(folder) / f"{table}.copy"
                source = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT").format(
                    columns, sql.Identifier(table), where
                )
                with path.open("wb") as out, cursor.copy(source) as copy:
                    for block in copy:
                        out.write(block)
                exported.append((table, columns, path))
        return CopyBaseline(
            seconds=_timed_copy(exported, foreign_keys=False),
            with_foreign_keys=_timed_copy(exported, foreign_keys=True),
        )


def _timed_copy(exported: list[tuple[str, sql.Composed, Path]], *, foreign_keys: bool) -> float:
    with connection.cursor() as cursor:
        for table, *_rest in exported:
            scratch = sql.Identifier(f"bench_copy_{table}")
            cursor.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                    scratch, sql.Identifier(table)
                )
            )
            if foreign_keys:
                cursor.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    [table],
                )
                for (definition,) in cursor.fetchall():
                    cursor.execute(
                        sql.SQL("ALTER TABLE {} ADD {}").format(scratch, sql.SQL(definition))
                    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, columns, path in exported:
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(f"bench_copy_{table}"), columns
            )
            with path.open("rb") as source, cursor.copy(statement) as copy:
                while block := source.read(1 << 20):
                    copy.write(block)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        if foreign_keys and connection.in_atomic_block:
            # Inside an outer transaction (the suite's) nothing was committed, so the checks
            # are still pending, and a table with pending checks cannot be dropped.
            cursor.execute(
                "SELECT string_agg(quote_ident(conname), ', ') FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid::regclass::text LIKE 'bench_copy_%%'"
            )
            (names,) = cursor.fetchone()
            if names:
                cursor.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(sql.SQL(names)))
        for table, *_rest in exported:
            cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"bench_copy_{table}")))
    return elapsed


def _columns(model: type[Model]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.Identifier(f.column) for f in model._meta.concrete_fields if not f.primary_key
    )


def children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.update(int(child) for child in children.read().split())
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The fields after the command name, which is in parentheses and may hold spaces.
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_kb(pid: int) -> int:
    """VmHWM (peak resident set size) of a process in kB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_memory(pid: int) -> None:
    """Start the peak RSS afresh, so data generation does not count (Linux clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


def machine() -> str:
    """The CPU, its cores, the memory and the PostgreSQL server the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
        with open("/proc/meminfo") as info:
            total_kb = int(next(line for line in info if line.startswith("MemTotal:")).split()[1])
            memory = f", {total_kb / 1024 / 1024:.0f} GB"
    except (OSError, StopIteration):
        pass
    server = ""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
            cursor.execute("SHOW shared_buffers")
            server = f"; PostgreSQL {version} (shared_buffers {cursor.fetchone()[0]})"
    return f"{cpu}, {os.cpu_count()} cores{memory}{server}"
