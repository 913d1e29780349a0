"""`verify_archive` recomputes the chain and every file's SHA-256 and names the first break: a
byte changed in a file, a database row changed, removed or cut off, a file missing too early."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from invoicing.archive.archiving import archive_file
from invoicing.archive.verification import verify_archive
from invoicing.models import ArchiveKind, ArchiveVerification, LegalHold
from tests.conftest import on_postgresql


@pytest.fixture
def entries(archive_dir, operator):
    return [
        archive_file(
            operator=operator,
            kind=ArchiveKind.EINVOICE_XML,
            reference=f"RE-{n}",
            content=f"<Invoice>{n}</Invoice>".encode(),
            source_key=f"einvoice:{n}",
            record_date=date(2026, 11, 30),
            content_type="application/xml",
        )
        for n in range(1, 6)
    ]


@contextmanager
def guards_off():
    """Tampering as someone with database access would: past the PostgreSQL triggers."""
    if on_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        if on_postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")


def run_sql(sql: str, params=()) -> None:
    with guards_off(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def verify() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("verify_archive", "--no-progress")
    assert caught.value.returncode == 1
    return str(caught.value)


@pytest.mark.django_db
def test_an_intact_archive_verifies(entries, capsys):
    call_command("verify_archive", "--no-progress")

    assert "Intact: 5 entries chained, 5 files match their SHA-256." in capsys.readouterr().out
    run = ArchiveVerification.objects.get()
    assert (run.state, run.entries_checked, run.files_checked) == ("intact", 5, 5)


@pytest.mark.django_db
def test_one_byte_changed_in_a_file_is_caught(entries, archive_dir):
    path = archive_dir / entries[2].storage_name
    os.chmod(path, 0o640)
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))

    message = verify()

    assert "The file of Entry #3" in message and "RE-3" in message
    assert "was changed: its SHA-256 is" in message
    assert "2 entries were intact before it" in message
    assert ArchiveVerification.objects.get().state == ArchiveVerification.State.BROKEN


@pytest.mark.django_db
def test_a_changed_database_row_is_caught(entries):
    run_sql(
        "UPDATE invoicing_archiveentry SET reference = %s WHERE id = %s", ["RE-9", entries[1].pk]
    )

    message = verify()

    assert "Entry #2" in message
    assert "was changed after it was archived" in message


@pytest.mark.django_db
def test_a_changed_file_hash_in_the_database_is_caught(entries):
    # Rewriting a row's SHA-256 to match a forged file breaks the row's chain hash.
    run_sql(
        "UPDATE invoicing_archiveentry SET sha256 = %s WHERE id = %s", ["f" * 64, entries[3].pk]
    )
    assert "Entry #4" in verify()


@pytest.mark.django_db
def test_a_removed_row_is_caught(entries):
    run_sql("DELETE FROM invoicing_archiveentry WHERE id = %s", [entries[2].pk])

    assert "entries #3 to #3 are missing from the database" in verify()


@pytest.mark.django_db
def test_rows_cut_off_the_end_are_caught(entries):
    run_sql("DELETE FROM invoicing_archiveentry WHERE id = %s", [entries[4].pk])

    assert "entries were removed from the end" in verify()


@pytest.mark.django_db
def test_a_file_missing_before_its_retention_date_is_caught(entries, archive_dir):
    (archive_dir / entries[0].storage_name).unlink()

    message = verify()

    assert "The file of Entry #1" in message
    assert "is missing from the archive storage" in message
    assert "must be kept until 2034-12-31" in message


@pytest.mark.django_db
def test_a_file_deleted_after_retention_is_counted_unless_a_legal_hold_keeps_it(
    entries, archive_dir, operator
):
    (archive_dir / entries[0].storage_name).unlink()

    result = verify_archive(today=date(2035, 1, 1))
    assert result.intact and result.expired == 1

    LegalHold.objects.create(operator=operator, reason="Tax audit 2026", reference="RE-1")
    result = verify_archive(today=date(2035, 1, 1))
    assert not result.intact and "RE-1" in result.first_break
