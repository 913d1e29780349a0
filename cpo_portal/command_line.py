"""manage.py's front: a wrong configuration or an unreachable database is said in one line
with the fix, instead of a traceback after the connection pool's retries."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit, urlunsplit

# Commands that never open the database (CI runs `check --deploy` with no database created).
COMMANDS_WITHOUT_DATABASE = {
    "check",
    "collectstatic",
    "compilemessages",
    "diffsettings",
    "help",
    "makemessages",
    "makemigrations",
    "match_files",
    "price_cdr",
    "spectacular",
    "version",
    "--help",
    "--version",
}
# Seconds the first connection may take before the database counts as unreachable.
PROBE_TIMEOUT = 5


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def database_problem() -> str | None:
    """Why the PostgreSQL database of DATABASE_URL cannot be used, with the fix, or None."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "cpo_portal.postgresql":
        return None
    import psycopg

    try:
        psycopg.connect(
            dbname=database["NAME"],
            user=database.get("USER") or None,
            password=database.get("PASSWORD") or None,
            host=database.get("HOST") or None,
            port=database.get("PORT") or None,
            connect_timeout=PROBE_TIMEOUT,
        ).close()
    except psycopg.OperationalError as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = " ".join(first_line.removeprefix("connection failed: ").split())
        name, host = database["NAME"], database.get("HOST") or "localhost"
        port = database.get("PORT") or "5432"
        if f'database "{name}" does not exist' in reason:
            # The server answered: only the database is missing, so name it and the command.
            user = f" -U {database['USER']}" if database.get("USER") else ""
            return (
                f"Database {name} does not exist on {host}:{port}; create it with: "
                f"createdb -h {host} -p {port}{user} {name} (or correct DATABASE_URL)."
            )
        fix = "start PostgreSQL or correct DATABASE_URL"
        where = _without_password(os.environ.get("DATABASE_URL", ""))
        return f"The database in DATABASE_URL ({where}) cannot be used: {reason}. Fix: {fix}."
    return None


def run(argv: list[str]) -> None:
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018  (reads the settings: configuration errors surface here)
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc} See .env.example.")
    command = argv[1] if len(argv) > 1 else "help"
    if command not in COMMANDS_WITHOUT_DATABASE and (problem := database_problem()):
        sys.exit(problem)
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
