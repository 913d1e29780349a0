"""Issues documents from a fresh interpreter (spawned by the concurrency tests)."""

from __future__ import annotations

import os


def issue_one_by_one(database_name: str, session_ids: list[int]) -> list[str]:
    """Own connection to the test database, one session per issuing transaction."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection

    from invoicing.documents.issuing import issue_session_documents

    connection.settings_dict["NAME"] = database_name
    numbers = []
    for session_id in session_ids:
        numbers += [d.display_number for d in issue_session_documents(session_ids=[session_id])]
    return numbers
