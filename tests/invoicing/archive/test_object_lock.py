"""In production the archive is an S3 bucket with Object Lock: tested against moto's S3 server on
127.0.0.1 through boto3 and django-storages, as deployed (STORAGES["archive"])."""

from __future__ import annotations

import itertools
import socket
from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import storages

from invoicing.archive.archiving import archive_file, read_entry
from invoicing.archive.storage import ArchiveOverwriteError
from invoicing.archive.verification import verify_archive
from invoicing.models import ArchiveKind

BUCKET = "cpo-archive"
_buckets = itertools.count(1)
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_archive(s3_endpoint, settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="eu-central-1", **CREDENTIALS)
    client.create_bucket(
        Bucket=BUCKET,
        ObjectLockEnabledForBucket=True,
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "invoicing.archive.storage.ObjectLockS3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "eu-central-1",
                "access_key": "test",
                "secret_key": "test",
                "default_acl": None,
            },
        },
    }
    return client


@pytest.fixture(autouse=True)
def _bucket_name(request):
    # Compliance-mode objects cannot be deleted: each test gets a bucket of its own.
    global BUCKET
    BUCKET = f"cpo-archive-{next(_buckets)}"


@pytest.mark.django_db
def test_each_archived_object_carries_its_own_compliance_retention(s3_archive, operator):
    invoice = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=b"<Invoice>1</Invoice>",
        source_key="einvoice:1",
        record_date=date(2026, 11, 30),
    )
    books = archive_file(
        operator=operator,
        kind=ArchiveKind.BOOKS,
        reference="DATEV 2026-11",
        content=b"EXTF;700",
        source_key="datev:2026-11",
        record_date=date(2026, 11, 30),
    )

    for entry, year in ((invoice, 2034), (books, 2036)):
        head = s3_archive.head_object(Bucket=BUCKET, Key=entry.storage_name)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"] == datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert read_entry(invoice) == b"<Invoice>1</Invoice>"
    assert verify_archive().intact


@pytest.mark.django_db
def test_a_locked_object_is_neither_deleted_nor_overwritten(s3_archive, operator):
    entry = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=b"<Invoice>1</Invoice>",
        source_key="einvoice:1",
        record_date=date(2026, 11, 30),
    )
    (version,) = s3_archive.list_object_versions(Bucket=BUCKET)["Versions"]

    with pytest.raises(ClientError, match="AccessDenied"):
        s3_archive.delete_object(
            Bucket=BUCKET, Key=entry.storage_name, VersionId=version["VersionId"]
        )
    storage = storages["archive"]
    with pytest.raises(ArchiveOverwriteError):
        storage.delete(entry.storage_name)
    from django.core.files.base import ContentFile

    with pytest.raises(ArchiveOverwriteError):
        storage.save(entry.storage_name, ContentFile(b"forged"))
    assert read_entry(entry) == b"<Invoice>1</Invoice>"


@pytest.mark.django_db
def test_the_same_bytes_kept_longer_extend_the_object_retention(s3_archive, operator):
    first = archive_file(
        operator=operator,
        kind=ArchiveKind.EINVOICE_XML,
        reference="RE-1",
        content=b"same",
        source_key="einvoice:1",
        record_date=date(2026, 11, 30),
    )
    archive_file(
        operator=operator,
        kind=ArchiveKind.BOOKS,
        reference="books",
        content=b"same",
        source_key="books:1",
        record_date=date(2026, 11, 30),
    )

    head = s3_archive.head_object(Bucket=BUCKET, Key=first.storage_name)
    assert head["ObjectLockRetainUntilDate"].year == 2036
