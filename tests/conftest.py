"""Shared fixtures: an operator with its settings, database capabilities, a real Celery worker."""

from __future__ import annotations

import importlib.util
import os

import pytest
from django.conf import settings as django_settings
from hypothesis import settings as hypothesis_settings

from tests.cpo_portal.kernel.api.support import (  # noqa: F401  (fixtures of every door's tests)
    _fresh_throttle_counters,
    anonymous_api,
    api,
    integrator,
    monthly_company,
    other_api,
    other_operator,
    per_session_customer,
    read_api,
)
from tests.factories import OperatorFactory

# Property tests explore new examples on a laptop; CI replays a fixed set, so a commit lands or
# not on its own merits. A failure found locally is pinned as an ordinary test.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Debian's Chromium, driven by Playwright in tests marked `browser`.
CHROMIUM = "/usr/bin/chromium"


def on_postgresql() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"] == "cpo_portal.postgresql"


def missing_browser() -> str | None:
    """Why the Playwright tests cannot drive Chromium here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "needs the playwright package (pip install -e '.[dev]')"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`postgres` and `browser` tests skip, saying why, without their tool; in CI they fail."""
    if item.get_closest_marker("postgres") and not on_postgresql():
        if os.environ.get("CI"):
            pytest.fail("CI must run PostgreSQL-only tests on PostgreSQL (set DATABASE_URL).")
        pytest.skip("needs PostgreSQL (row locking, concurrent transactions); CI runs it there")
    if item.get_closest_marker("browser") and (reason := missing_browser()):
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}.")
        pytest.skip(f"{reason}; CI runs it")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # Rate-limit counters (reset e-mails, API throttle) live in the cache, not the database:
    # one test's requests must not count against the next one.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def operator(db):
    return OperatorFactory()


@pytest.fixture
def invoicing_settings(operator):
    return operator.invoicing_settings


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming from the configured broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from cpo_portal.celery import app

    # Messages left by earlier tests point at rows that no longer exist (or, after a flush,
    # at other rows with the same id): the worker starts on an empty queue.
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING") as worker:
        yield worker
