"""What goes into the archive, once, chained, and never changed: issued documents' PDFs, the
session payloads they bill (without ad-hoc e-mail addresses), payments, and any file handed to
`archive_file` (the e-invoice hook)."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from invoicing.archive.archiving import archive_file, read_entry
from invoicing.archive.chain import hash_of
from invoicing.archive.models import GENESIS_HASH, ArchiveRecordError
from invoicing.archive.sources import (
    archive_document,
    archive_payment,
    archive_pending,
    archive_transaction,
    archived_payload,
)
from invoicing.archive.storage import ArchiveOverwriteError
from invoicing.archive.verification import verify_archive
from invoicing.documents.issuing import issue_session_documents
from invoicing.models import (
    ArchiveChain,
    ArchiveEntry,
    ArchiveKind,
    DocumentFile,
    InvoicingSettings,
)
from invoicing.output import pipeline
from invoicing.payments import ledger
from invoicing.payments.models import TransactionKind
from invoicing.payments.recording import record_payment
from sessions.models import ChargingSession
from sessions.services import ingest_sessions
from tests.conftest import on_postgresql
from tests.invoicing.helpers import helper_evse, helper_tariff, issue_invoice_for


def rendered(document):
    pipeline.render_document(document_id=document.pk, reason=DocumentFile.Reason.ISSUED)
    return DocumentFile.objects.get(document=document)


@pytest.mark.django_db
def test_an_issued_invoice_is_archived_with_its_pdf_and_session_payloads_once(
    archive_dir, monthly_company
):
    document = issue_invoice_for(monthly_company, sessions=3)
    pdf = rendered(document)

    entries = archive_document(document_id=document.pk)
    again = archive_document(document_id=document.pk)

    assert [e.pk for e in again] == [e.pk for e in entries]
    assert ArchiveEntry.objects.count() == 4
    first, *sessions = entries
    assert first.kind == ArchiveKind.DOCUMENT_PDF and first.reference == document.display_number
    assert first.sha256 == pdf.sha256
    with pdf.file.open("rb") as handle:
        assert read_entry(first) == handle.read()
    assert {e.kind for e in sessions} == {ArchiveKind.SESSION_PAYLOAD}
    raw = {s.raw_payload.encode() for s in ChargingSession.objects.filter(customer=monthly_company)}
    assert {read_entry(e) for e in sessions} == raw
    # 8 years from the end of the issue year (GoBD).
    assert first.retain_until == date(document.issue_date.year + 8, 12, 31)
    assert [e.sequence for e in entries] == [1, 2, 3, 4]
    assert entries[0].previous_hash == GENESIS_HASH
    for before, entry in itertools.pairwise(entries):
        assert entry.previous_hash == before.entry_hash == hash_of(before, before.previous_hash)
    head = ArchiveChain.objects.get(operator=document.operator)
    assert (head.sequence, head.head_hash) == (4, entries[-1].entry_hash)
    assert verify_archive().intact


@pytest.mark.django_db
def test_the_e_mail_an_ad_hoc_driver_gave_never_enters_the_archive(archive_dir, operator):
    # Receipts for every session, so the ad-hoc driver's session gets one.
    InvoicingSettings.objects.filter(operator=operator).update(always_issue=True)
    payload = {
        "source_id": "ADHOC-1",
        "evse_id": helper_evse(operator).evse_id,
        "tariff_id": helper_tariff(operator).ocpi_id,
        "start": "2026-03-02T10:00:00+00:00",
        "end": "2026-03-02T11:00:00+00:00",
        "energy_kwh": "10.5",
        "ad_hoc_email": "walkin@example.org",
    }
    (outcome,) = ingest_sessions(operator=operator, source="test", payloads=[payload])
    (document,) = issue_session_documents(session_ids=[outcome.session_id])
    rendered(document)

    entries = archive_document(document_id=document.pk)

    (session_entry,) = [e for e in entries if e.kind == ArchiveKind.SESSION_PAYLOAD]
    archived = read_entry(session_entry)
    assert b"walkin@example.org" not in archived
    assert b"ad_hoc_email" not in archived
    assert json.loads(archived)["source_id"] == "ADHOC-1"


def test_a_payload_without_personal_data_is_archived_byte_for_byte(settings):
    raw = '{"source_id": "A",  "energy_kwh": 10.50}'
    assert archived_payload(raw) == raw.encode()
    assert archived_payload('{"ad_hoc_email": "x@example.org", "n": 1.10}') == b'{"n": 1.10}'


@pytest.mark.django_db
def test_a_recorded_payment_is_archived_as_a_booking_record(archive_dir, monthly_company):
    document = issue_invoice_for(monthly_company)
    payment = record_payment(
        document=document, amount=document.total_gross, paid_on=document.issue_date
    )

    entry = archive_payment(payment_id=payment.pk)

    assert entry.kind == ArchiveKind.PAYMENT_RECORD
    record = json.loads(read_entry(entry))
    assert record["document_number"] == document.display_number
    assert Decimal(str(record["amount"])) == document.total_gross
    assert "recorded_by" not in record
    assert archive_payment(payment_id=payment.pk).pk == entry.pk


@pytest.mark.django_db
def test_the_e_invoice_hook_archives_any_file_once_and_stores_identical_bytes_once(
    archive_dir, operator
):
    xml = b"<Invoice>RE-1</Invoice>"
    first = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=xml,
        source_key="einvoice:1",
        record_date=date(2026, 11, 30),
        content_type="application/xml",
    )
    same_bytes = archive_file(
        operator=operator,
        kind=ArchiveKind.BOOKS,
        reference="DATEV 2026-11",
        content=xml,
        source_key="datev:2026-11",
        record_date=date(2026, 11, 30),
    )

    assert first.sha256 == hashlib.sha256(xml).hexdigest() == same_bytes.sha256
    assert first.storage_name == same_bytes.storage_name
    assert len([p for p in archive_dir.rglob("*") if p.is_file()]) == 1
    assert same_bytes.retain_until == date(2036, 12, 31)  # books: 10 years
    assert same_bytes.previous_hash == first.entry_hash


@pytest.mark.django_db
def test_retention_years_follow_the_operator_country(archive_dir, operator, settings):
    settings.ARCHIVE_RETENTION_YEARS = {
        **settings.ARCHIVE_RETENTION_YEARS,
        operator.country: {"einvoice_xml": 7},
    }
    entry = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=b"<x/>",
        source_key="einvoice:1",
        record_date=date(2026, 1, 15),
    )
    assert entry.retain_until == date(2033, 12, 31)


@pytest.mark.django_db
def test_archive_entries_cannot_be_changed_or_deleted(archive_dir, operator):
    entry = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=b"<x/>",
        source_key="einvoice:1",
        record_date=date(2026, 1, 15),
    )
    entry.reference = "RE-2"
    with pytest.raises(ArchiveRecordError):
        entry.save()
    with pytest.raises(ArchiveRecordError):
        entry.delete()
    with pytest.raises(ArchiveRecordError):
        ArchiveEntry.objects.filter(pk=entry.pk).update(reference="RE-2")
    with pytest.raises(ArchiveRecordError):
        ArchiveEntry.objects.filter(pk=entry.pk).delete()
    if on_postgresql():
        for sql in (
            "UPDATE invoicing_archiveentry SET reference = 'RE-2'",
            "DELETE FROM invoicing_archiveentry",
            "UPDATE invoicing_archivechain SET sequence = 0",
            "DELETE FROM invoicing_archivechain",
        ):
            with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
                c.execute(sql)
    assert ArchiveEntry.objects.get().reference == "RE-1"


def test_the_archive_folder_writes_a_file_once_and_never_replaces_or_deletes_it(tmp_path):
    from django.core.files.base import ContentFile

    from invoicing.archive.storage import WriteOnceFileSystemStorage

    storage = WriteOnceFileSystemStorage(location=str(tmp_path))
    assert storage.save_once("a/b", b"first", retain_until=date(2034, 12, 31)) is True
    assert storage.save_once("a/b", b"other", retain_until=date(2034, 12, 31)) is False
    assert (tmp_path / "a" / "b").read_bytes() == b"first"
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == 0o440
    with pytest.raises(ArchiveOverwriteError):
        storage.save("a/b", ContentFile(b"other"))
    with pytest.raises(ArchiveOverwriteError):
        storage.delete("a/b")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_append_to_one_unforked_chain(archive_dir, operator):
    """Six threads (six database connections) archive 20 files each at the same time."""
    workers, per_worker = 6, 20
    start = threading.Barrier(workers)
    errors = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(per_worker):
                archive_file(
                    operator=operator,
                    kind=ArchiveKind.EINVOICE_XML,
                    reference=f"RE-{worker}-{n}",
                    content=f"<Invoice>{worker}-{n}</Invoice>".encode(),
                    source_key=f"einvoice:{worker}:{n}",
                    record_date=date(2026, 11, 30),
                )
                # The same source archived by two workers at once still gives one entry.
                archive_file(
                    operator=operator,
                    kind=ArchiveKind.EINVOICE_XML,
                    reference="RE-shared",
                    content=b"<Invoice>shared</Invoice>",
                    source_key="einvoice:shared",
                    record_date=date(2026, 11, 30),
                )
        except Exception as exc:  # reported below, with the thread that raised it
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert time.monotonic() - started < 120

    total = workers * per_worker + 1
    sequences = list(ArchiveEntry.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, total + 1))
    assert ArchiveEntry.objects.filter(source_key="einvoice:shared").count() == 1
    result = verify_archive()
    assert result.intact, result.first_break
    assert result.entries == total


@pytest.mark.django_db
def test_a_ledger_transaction_is_archived_per_status_with_its_payload_byte_for_byte(
    archive_dir, operator
):
    pending_payload = '{"id": "evt_1", "status":  "pending"}'
    entry = ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="stripe",
            provider_reference="pi_1",
            kind=TransactionKind.CAPTURE,
            status="pending",
            amount=Decimal("12.50"),
            currency="EUR",
            payer_iban="DE02120300000000202051",
            payload=pending_payload,
        )
    )

    record, payload = archive_transaction(transaction_id=entry.pk)

    assert read_entry(payload) == pending_payload.encode()
    facts = json.loads(read_entry(record), parse_float=Decimal)
    assert (facts["status"], facts["amount"], facts["payload"]) == (
        "pending",
        Decimal("12.50"),
        pending_payload,
    )
    assert facts["payer_iban"] == "DE02120300000000202051"  # the archive keeps the facts
    assert [e.pk for e in archive_transaction(transaction_id=entry.pk)] == [record.pk, payload.pk]

    ledger.record_transaction(
        ledger.TransactionFacts(
            operator=operator,
            provider="stripe",
            provider_reference="pi_1",
            kind=TransactionKind.CAPTURE,
            status="succeeded",
            amount=Decimal("12.50"),
            currency="EUR",
            payload='{"id": "evt_2"}',
        )
    )
    assert archive_pending() == 1  # the new status, which no task archived yet
    keys = set(ArchiveEntry.objects.values_list("source_key", flat=True))
    assert {
        f"transaction:{entry.pk}:succeeded",
        f"transaction_payload:{entry.pk}:succeeded",
    } <= keys
    assert read_entry(payload) == pending_payload.encode()  # the first payload stays as it was
