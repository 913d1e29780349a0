"""manage.py says a wrong configuration or an unusable database in one line, with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CPO_"))}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_named_with_the_command_that_creates_it(tmp_path):
    started = time.monotonic()
    done = manage(
        "run_billing",
        "--period",
        "2026-10",
        CPO_PROFILE="development",
        CPO_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/no_such_database_here",
    )

    assert done.returncode == 1
    # One line, no traceback and no pool retries: said within seconds, not after the timeout.
    assert done.stderr.strip().splitlines() == [
        "Database no_such_database_here does not exist on 127.0.0.1:5432; create it with: "
        "createdb -h 127.0.0.1 -p 5432 -U postgres no_such_database_here (or correct "
        "DATABASE_URL)."
    ]
    assert time.monotonic() - started < 5


def test_a_server_that_does_not_answer_is_said_without_the_password(tmp_path):
    done = manage(
        "migrate",
        CPO_PROFILE="development",
        CPO_VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://postgres:secret@127.0.0.1:9/cpo",
    )

    (line,) = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert "postgres://postgres:***@127.0.0.1:9/cpo" in line and "secret" not in line
    assert line.endswith("Fix: start PostgreSQL or correct DATABASE_URL.")


def test_a_missing_production_setting_is_one_sentence(tmp_path):
    done = manage(
        "run_billing", "--period", "2026-10", CPO_PROFILE="production", CPO_VAR_DIR=str(tmp_path)
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY must be set outside the development profile (set "
        "CPO_PROFILE=development for a laptop). See .env.example."
    ]
