"""Issues documents from a fresh interpreter (spawned by the concurrency tests)."""

from __future__ import annotations

import os


def issue_one_by_one(
    database_name: str, session_ids: list[int], issue_date: str | None = None
) -> list[str]:
    """Own connection to the test database, one session per issuing transaction (issued on
    `issue_date`, ISO, when given)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from datetime import date

    from django.db import connection

    from invoicing.documents.issuing import issue_session_documents

    connection.settings_dict["NAME"] = database_name
    numbers = []
    for session_id in session_ids:
        issued = issue_session_documents(
            session_ids=[session_id],
            issue_date=date.fromisoformat(issue_date) if issue_date else None,
        )
        numbers += [d.display_number for d in issued]
    return numbers
