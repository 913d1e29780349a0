"""The archive in the admin (read-only entries, downloads, verify now, legal holds, retention
report) and the retention report command: nothing may be deleted before its date."""

from __future__ import annotations

import time
from datetime import date

import pytest
from django.core.management import call_command

from invoicing import tasks
from invoicing.archive.archiving import archive_file
from invoicing.archive.retention import deletable_entries
from invoicing.models import ArchiveEntry, ArchiveKind, ArchiveVerification, DocumentFile, LegalHold
from tests.invoicing.helpers import issue_invoice_for


def archive(operator, n: int, *, kind=ArchiveKind.EINVOICE_XML, year=2026) -> ArchiveEntry:
    return archive_file(
        operator=operator,
        kind=kind,
        reference=f"RE-{n}",
        content=f"<Invoice>{n}</Invoice>".encode(),
        source_key=f"{kind}:{n}",
        record_date=date(year, 6, 1),
        content_type="application/xml",
    )


@pytest.mark.django_db
def test_entries_are_listed_and_downloaded_but_never_edited(admin_client, archive_dir, operator):
    entry = archive(operator, 1)

    listing = admin_client.get("/admin/invoicing/archiveentry/")
    assert listing.status_code == 200 and "RE-1" in listing.content.decode()
    page = admin_client.get(f"/admin/invoicing/archiveentry/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="reference"' not in page.content.decode()
    assert admin_client.get("/admin/invoicing/archiveentry/add/").status_code == 403
    assert admin_client.post(f"/admin/invoicing/archiveentry/{entry.pk}/delete/").status_code == 403
    download = admin_client.get(f"/admin/invoicing/archiveentry/{entry.pk}/download/")
    assert b"".join(download.streaming_content) == b"<Invoice>1</Invoice>"


@pytest.mark.django_db
def test_verify_now_records_the_state_and_counts(admin_client, archive_dir, operator):
    archive(operator, 1)
    archive(operator, 2)

    response = admin_client.post("/admin/invoicing/archiveverification/verify/", {})
    assert response.status_code == 302
    run = ArchiveVerification.objects.get()
    assert run.state == ArchiveVerification.State.RUNNING
    tasks.verify_archive(run.pk)  # what the worker runs

    listing = admin_client.get("/admin/invoicing/archiveverification/").content.decode()
    run.refresh_from_db()
    assert (run.state, run.entries_checked, run.files_checked) == ("intact", 2, 2)
    assert "Intact: 2 entries chained" in listing


@pytest.mark.django_db
def test_the_retention_report_lists_what_may_be_deleted_and_never_what_is_held(
    admin_client, archive_dir, operator, capsys
):
    old = archive(operator, 1, year=2015)  # kept until 2023-12-31
    archive(operator, 2, year=2015)
    archive(operator, 3)  # kept until 2034-12-31
    LegalHold.objects.create(operator=operator, reason="Lawsuit", reference="RE-2")

    assert list(deletable_entries(today=date(2026, 12, 2))) == [old]
    call_command("archive_retention_report", "--date", "2026-12-02", "--list")
    out = capsys.readouterr().out
    assert "3 entries, 1 under legal hold, 1 may be deleted" in out
    assert "#1" in out and "RE-1 retained until 2023-12-31" in out
    report = admin_client.get("/admin/invoicing/archiveentry/retention/")
    assert report.status_code == 200 and "Lawsuit" not in report.content.decode()
    filtered = admin_client.get("/admin/invoicing/archiveentry/?retention=deletable")
    assert "RE-1" in filtered.content.decode() and "RE-2<" not in filtered.content.decode()
    assert ArchiveEntry.objects.count() == 3


@pytest.mark.django_db
def test_a_released_hold_no_longer_keeps_entries(admin_client, archive_dir, operator):
    archive(operator, 1, year=2015)
    hold = LegalHold.objects.create(
        operator=operator, reason="Audit", kind=ArchiveKind.EINVOICE_XML
    )
    assert not deletable_entries(today=date(2026, 12, 2)).exists()

    admin_client.post(
        "/admin/invoicing/legalhold/",
        {"action": "release", "_selected_action": [hold.pk]},
    )

    hold.refresh_from_db()
    assert hold.released_at is not None
    assert deletable_entries(today=date(2026, 12, 2)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_issued_invoice_reaches_the_archive_through_the_workers(
    archive_dir, monthly_company, celery_worker_thread
):
    document = issue_invoice_for(monthly_company, sessions=2)  # render queued on commit

    deadline = time.monotonic() + 90
    while ArchiveEntry.objects.filter(operator=document.operator).count() < 3:
        assert time.monotonic() < deadline, "the document was not archived"
        time.sleep(0.2)

    pdf = DocumentFile.objects.get(document=document)
    kinds = sorted(ArchiveEntry.objects.values_list("kind", flat=True))
    assert kinds == ["document_pdf", "session_payload", "session_payload"]
    assert ArchiveEntry.objects.get(kind="document_pdf").sha256 == pdf.sha256
