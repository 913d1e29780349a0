"""Where a benchmark works: a scratch database of its own, and the processes it starts there.

Issued documents cannot be deleted (PostgreSQL triggers), so a benchmark that issues documents
works in a database created for it next to the configured one and drops it afterwards; the
configured database is left as it was. The Celery helpers keep a benchmark's tasks off the
queues real workers consume.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from kombu import Exchange, Queue

from cpo_portal.celery import app

__all__ = [
    "child_env",
    "database_url",
    "drain_queue",
    "manage_py",
    "routed",
    "scratch_database",
    "tasks_held",
]


def _comment(benchmark: str) -> str:
    return f"cpo-portal {benchmark} scratch database; dropped after the benchmark"


def default_name(benchmark: str) -> str:
    """The scratch database of a benchmark on PostgreSQL: the configured name + _<benchmark>."""
    return f"{connection.settings_dict['NAME']}_{benchmark}"


@contextmanager
def scratch_database(
    benchmark: str, *, name: str | None = None, keep: bool = False, reuse: bool = False
) -> Iterator[str]:
    """Create, migrate and switch to a database of the benchmark's own; switch back after.

    On PostgreSQL it is `name` (default: the configured name + `_<benchmark>`), marked with a
    comment naming the benchmark so that only such a database is ever dropped: afterwards, and
    when a killed run left it. `keep` leaves it for a later `reuse`, which measures again in it
    without creating or dropping anything. On SQLite it is a file in a temporary directory.
    Yields the database's name (the file's path on SQLite).
    """
    original = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        if keep or reuse:
            raise CommandError("Keeping or reusing a scratch database needs PostgreSQL.")
        # The suite's in-memory database lives only while a connection holds it: this one
        # keeps it while the default connection looks at the scratch file.
        keeper = sqlite3.connect(original, uri=True) if connection.is_in_memory_db() else None
        with tempfile.TemporaryDirectory(prefix=f"{benchmark}_") as folder:
            path = str(Path(folder) / "scratch.sqlite3")
            _switch_database(path)
            try:
                _migrate()
                yield path
            finally:
                _switch_database(original)
                if keeper is not None:
                    connection.ensure_connection()
                    keeper.close()
        return

    name = name or default_name(benchmark)
    if name == original:
        raise CommandError("The scratch database must not be the configured database.")
    comment = _comment(benchmark)
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        )
        found = cursor.fetchone()
        if reuse and (not found or found[0] != comment):
            raise CommandError(f"No database “{name}” left by `{benchmark} --keep` to reuse.")
        if found and found[0] != comment:
            raise CommandError(f"The database “{name}” exists and is not a benchmark scratch one.")
        if not reuse:
            if found:  # left behind by --keep or a killed run
                cursor.execute(f"DROP DATABASE {quoted} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {quoted}")
            cursor.execute(f"COMMENT ON DATABASE {quoted} IS %s", [comment])
    _switch_database(name)
    try:
        _migrate()
        yield name
    finally:
        _switch_database(original)
        if not (keep or reuse):
            with connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE {quoted} WITH (FORCE)")


def _migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0, stdout=StringIO())


def _switch_database(name: str) -> None:
    # As Django's test runner does: the default alias points at another database from now on.
    # Closed for real: SQLite's close() leaves an in-memory database (the suite's) open, and the
    # connection would go on using it.
    BaseDatabaseWrapper.close(connection)
    if connection.vendor == "postgresql":
        connection.close_pool()
    connection.settings_dict["NAME"] = name
    ContentType.objects.clear_cache()


# --- processes -----------------------------------------------------------------------------


def database_url() -> str:
    """The database this process uses now (a scratch one, in tests the test one) as a URL."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if "memory" in name or not Path(name).is_absolute():
            raise CommandError("A benchmark process needs a database another process can open.")
        return f"sqlite:///{name}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{db.get('HOST') or ''}{port}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process a benchmark starts: this process's settings and database."""
    return {
        **os.environ,
        # Inside override_settings the module is None: the one this process was started with.
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE or os.environ["DJANGO_SETTINGS_MODULE"],
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage_py(*args: str) -> list[str]:
    """The command line of `manage.py <args>` with this interpreter."""
    return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]


# --- Celery queues -------------------------------------------------------------------------


@contextmanager
def routed(routes: Mapping[str, Mapping[str, str]]) -> Iterator[None]:
    """Send tasks by these Celery routes while the block runs (e.g. to a private queue)."""
    previous = app.conf.task_routes
    app.conf.task_routes = dict(routes)
    refresh_router()
    try:
        yield
    finally:
        app.conf.task_routes = previous
        refresh_router()


def refresh_router() -> None:
    # The router is built once per app from task_routes; rebuild it for the new routes.
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()


class Held:
    """The tasks a `tasks_held` block sent; `count` is known once the block has ended."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.count = 0


@contextmanager
def tasks_held(prefix: str) -> Iterator[Held]:
    """Every task sent while the block runs goes to a private queue nobody consumes; purged after.

    A benchmark's documents live in its scratch database: a real worker must never see their
    PDF renders or e-mails. Queueing stays part of what is measured; running them does not.
    """
    held = Held(f"{prefix}_{os.getpid()}_not_run")
    try:
        with routed({"*": {"queue": held.queue}}):
            yield held
    finally:
        held.count = drain_queue(held.queue)


def drain_queue(queue: str) -> int:
    """Remove a benchmark queue from the broker; returns how many messages it still held."""
    try:
        with app.connection_for_write() as broker:
            # Declared first: the transport forgets bindings it did not declare itself.
            declared = Queue(queue, Exchange(queue), routing_key=queue)(broker.default_channel)
            declared.declare()
            left = declared.queue_declare().message_count
            declared.purge()
            declared.delete()
            return left
    except Exception:
        # Leftover bookkeeping on the broker must not hide the results.
        return 0
