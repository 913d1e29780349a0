"""Run every reliability figure (or those named) and print a summary table.

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python -m tests.reliability [names]

Issued documents cannot be deleted, so the figures run in a scratch database created next to
DATABASE_URL's and dropped at the end (pytest-based figures get pytest-django's own test
database next to it). Exit status: 0 when every figure is good, 1 when one is bad.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from tests.reliability.common import REPORT_ENV, ROOT

SCRATCH_COMMENT = "cpo-portal reliability scratch database; dropped after the run"
MISSING = (
    "make reliability needs DATABASE_URL (a PostgreSQL database) and CELERY_BROKER_URL "
    "(a Redis broker), e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/cpo "
    "CELERY_BROKER_URL=redis://127.0.0.1:6379/8 make reliability"
)


@dataclass
class Figure:
    name: str
    title: str
    # A script run as `python -m <module>`, or pytest arguments.
    module: str = ""
    pytest: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # For pytest figures without their own line: builds it from the counts.
    line: object = None


def bad_input_line(counts: dict[str, int], output: str) -> tuple[str, bool]:
    if counts["collected"] == 0:
        return "bad input: no cases (no test carries the bad_input marker yet)", True
    bad = counts["failed"] + counts["error"]
    return (
        f"bad input: {counts['passed'] + bad} cases, {counts['passed']} passed: "
        + ("0 x 500" if not bad else f"{bad} failed")
    ), bad == 0


def brute_force_line(counts: dict[str, int], output: str) -> tuple[str, bool]:
    if counts["collected"] == 0:
        return "brute force: no cases (no test carries the brute_force marker yet)", True
    bad = counts["failed"] + counts["error"]
    # The tests print their own figure (a line starting "brute force"); else the counts.
    printed = [
        line.strip()
        for line in output.splitlines()
        if line.strip().lower().startswith("brute force")
    ]
    figure = "; ".join(printed) or f"brute force: {counts['passed']} tests passed"
    return (figure + (f" ({bad} tests failed)" if bad else "")), bad == 0


FIGURES = [
    Figure("numbering", "1. concurrent numbering", module="tests.reliability.numbering"),
    Figure("billing", "2. killed billing runs", module="tests.reliability.billing_kills"),
    Figure("tasks", "3. tasks run 2x and 3x", pytest=["tests/reliability/tasks_twice.py", "-s"]),
    Figure("idempotency", "4. one Idempotency-Key", module="tests.reliability.idempotency"),
    Figure(
        "schemathesis",
        "5. schemathesis",
        pytest=["tests/reliability/schemathesis_all.py", "-s", "-p", "no:logging"],
    ),
    Figure(
        "authorization",
        "6. authorization matrix",
        pytest=["tests/reliability/authorization.py", "-s"],
    ),
    Figure("bad_input", "7. bad input", pytest=["tests", "-m", "bad_input"], line=bad_input_line),
    Figure(
        "brute_force",
        "8. brute force",
        pytest=["tests", "-m", "brute_force", "-s"],
        line=brute_force_line,
    ),
]


def main(argv: list[str]) -> int:
    database_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not broker_url.startswith(
        ("redis://", "rediss://")
    ):
        print(MISSING, file=sys.stderr)
        return 2
    unknown = set(argv) - {f.name for f in FIGURES}
    if unknown:
        print(f"Unknown figures {sorted(unknown)}; choose from {[f.name for f in FIGURES]}.")
        return 2
    by_name = {f.name: f for f in FIGURES}
    chosen = [by_name[name] for name in argv] if argv else FIGURES  # in the order asked
    url = urlsplit(database_url)
    scratch = f"{url.path.lstrip('/') or 'cpo'}_reliability"
    scratch_url = urlunsplit(url._replace(path=f"/{scratch}"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CPO_PROFILE": os.environ.get("CPO_PROFILE", "development"),
        "DATABASE_URL": scratch_url,
        "DATABASE_TEST_NAME": f"test_{scratch}",
        "DATABASE_POOL": "false",
        "PYTHONUNBUFFERED": "1",
    }
    print(f"Scratch database {scratch} (dropped at the end); broker {broker_url}", flush=True)
    rows = []
    create_scratch(database_url, scratch)
    try:
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        for figure in chosen:
            rows.append(run(figure, env))
    finally:
        drop_scratch(database_url, scratch)
    print("\nReliability figures")
    width = max(len(f.title) for f in chosen)
    for figure, ok, line, seconds in rows:
        print(f"  {figure.title:<{width}}  {'ok ' if ok else 'BAD'}  {seconds:6.0f} s  {line}")
    return 0 if all(ok for _f, ok, _l, _s in rows) else 1


def run(figure: Figure, env: dict[str, str]) -> tuple[Figure, bool, str, float]:
    print(f"\n== {figure.title}", flush=True)
    began = time.monotonic()
    with tempfile.NamedTemporaryFile("r", suffix=".figures") as lines:
        run_env = {**env, **figure.env, REPORT_ENV: lines.name}
        if figure.module:
            command = [sys.executable, "-m", figure.module]
        else:
            command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE"]
            command += figure.pytest
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = []
        for text in process.stdout:
            sys.stdout.write(text)
            output.append(text)
        code = process.wait()
        reported = [row.rstrip("\n").split("\t", 1) for row in lines.read().splitlines()]
    seconds = time.monotonic() - began
    text = "".join(output)
    if figure.line:
        line, ok = figure.line(pytest_counts(text, code), text)
        ok = ok and code in (0, 5)
    elif reported:
        line = "; ".join(r[1] for r in reported)
        ok = code == 0 and all(r[0] == "ok" for r in reported)
    else:
        line, ok = f"no figure (exit status {code}; see the output above)", False
    print(line, flush=True)
    return figure, ok, line, seconds


def pytest_counts(output: str, code: int) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "collected": 0}
    summary = [row for row in output.splitlines() if re.search(r"\d+ (passed|failed|err)", row)]
    last = summary[-1] if summary else ""
    for number, word in re.findall(r"(\d+) (passed|failed|errors?)", last):
        counts["error" if word.startswith("error") else word] += int(number)
    counts["collected"] = 0 if code == 5 else counts["passed"] + counts["failed"] + counts["error"]
    return counts


def create_scratch(database_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url(database_url), autocommit=True) as db:
        found = db.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
        if found and found[0] != SCRATCH_COMMENT:
            raise SystemExit(f"The database {name} exists and is not a reliability scratch one.")
        if found:  # left behind by a killed run
            db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        db.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(SCRATCH_COMMENT)
            )
        )


def drop_scratch(database_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url(database_url), autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def maintenance_url(database_url: str) -> str:
    """The server's `postgres` database: the configured one need not exist yet."""
    url = urlsplit(database_url)
    return urlunsplit(url._replace(scheme="postgresql", path="/postgres"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
