"""Production configuration has no insecure defaults; development runs with none given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'engine': settings.DATABASES['default']['ENGINE'],"
    " 'pool': 'pool' in settings.DATABASES['default'].get('OPTIONS', {}),"
    " 'broker': settings.CELERY_BROKER_URL, 'ssl': settings.SECURE_SSL_REDIRECT,"
    " 'storage': settings.STORAGES['default']['BACKEND']}))"
)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CELERY_", "CPO_", "AWS_"))
        and k not in {"SECRET_KEY", "DEBUG"}
    }
    # Not the laptop's .env that `make run` wrote: the defaults themselves are under test.
    clean.update(DJANGO_SETTINGS_MODULE="cpo_portal.settings", CPO_ENV_FILE=os.devnull, **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(DATABASE_URL="postgres://u@db/x", CELERY_BROKER_URL="redis://r:6379/0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_a_database_url():
    result = load_settings(SECRET_KEY="s" * 50, CELERY_BROKER_URL="redis://r:6379/0")
    assert result.returncode != 0
    assert "DATABASE_URL must be set" in result.stderr


def test_production_refuses_to_start_without_a_broker():
    result = load_settings(SECRET_KEY="s" * 50, DATABASE_URL="postgres://u@db/x")
    assert result.returncode != 0
    assert "CELERY_BROKER_URL must be set" in result.stderr


def test_production_settings_are_secure_and_pooled():
    result = load_settings(
        SECRET_KEY="s" * 50,
        DATABASE_URL="postgres://u@db/x",
        CELERY_BROKER_URL="redis://r:6379/0",
        AWS_STORAGE_BUCKET_NAME="invoices",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["debug"] is False
    assert loaded["engine"] == "cpo_portal.postgresql"
    assert loaded["pool"] is True
    assert loaded["ssl"] is True
    assert loaded["storage"] == "storages.backends.s3.S3Storage"


def test_development_profile_runs_on_embedded_defaults(tmp_path):
    result = load_settings(CPO_PROFILE="development", CPO_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["broker"] == "filesystem://"
    assert loaded["debug"] is False  # DEBUG stays off unless set, even on a laptop


def test_gunicorn_access_logs_leave_query_strings_out():
    """A key sent as ?api_key= by mistake (refused by the API) must not land in a log file."""
    import runpy
    from pathlib import Path

    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    log_format = config["access_log_format"]

    assert "%(U)s" in log_format
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%({"):
        assert leaky not in log_format
