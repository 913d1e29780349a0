"""Where archived files live: written once, never overwritten, never deleted by the application.

The storage alias is ``STORAGES["archive"]``. On the embedded default it is a local folder whose
files are created exclusively and made read-only; in production it is an S3 bucket with Object
Lock, where every object is put with its own retention date in compliance mode, so not even the
bucket's owner can delete or overwrite it before that date.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time

from botocore.exceptions import ClientError
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

READ_ONLY = 0o440


class ArchiveOverwriteError(Exception):
    """An archived file exists already and is never written again."""


def retention_datetime(retain_until: date) -> datetime:
    """The end of the retention day, in UTC (S3 wants a point in time)."""
    return datetime.combine(retain_until, time(23, 59, 59), tzinfo=UTC)


class WriteOnceFileSystemStorage(FileSystemStorage):
    """A local folder whose files are created once, read-only, and never replaced or removed."""

    def get_available_name(self, name, max_length=None):
        if self.exists(name):
            raise ArchiveOverwriteError(f"The archive file {name} exists and is never rewritten.")
        return super().get_available_name(name, max_length=max_length)

    def delete(self, name):
        raise ArchiveOverwriteError(f"The archive file {name} cannot be deleted.")

    def save_once(self, name: str, data: bytes, *, retain_until: date) -> bool:
        """Write the file unless it exists (its name is its hash); True when written now."""
        path = self.path(name)
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        try:
            # O_EXCL: two workers archiving the same bytes at once write them once.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            os.unlink(path)
            raise
        os.chmod(path, READ_ONLY)
        return True


class ObjectLockS3Storage(S3Storage):
    """An S3 bucket with Object Lock: each object carries its retention date from its first put."""

    def get_default_settings(self):
        defaults = super().get_default_settings()
        # GOVERNANCE can be lifted by a privileged user (staging); COMPLIANCE by nobody.
        defaults["object_lock_mode"] = "COMPLIANCE"
        defaults["file_overwrite"] = False
        return defaults

    def get_available_name(self, name, max_length=None):
        if self.exists(name):
            raise ArchiveOverwriteError(f"The archive object {name} exists and is never rewritten.")
        return super().get_available_name(name, max_length=max_length)

    def delete(self, name):
        raise ArchiveOverwriteError(f"The archive object {name} cannot be deleted.")

    def save_once(self, name: str, data: bytes, *, retain_until: date) -> bool:
        """Put the object with its retention unless it exists; an existing object's retention
        is extended when this entry must be kept longer. True when written now."""
        client = self.connection.meta.client
        key = self._normalize_name(clean_name(name))
        until = retention_datetime(retain_until)
        try:
            head = client.head_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            head = None
        if head is not None:
            current = head.get("ObjectLockRetainUntilDate")
            if current is None or current < until:
                client.put_object_retention(
                    Bucket=self.bucket_name,
                    Key=key,
                    Retention={"Mode": self.object_lock_mode, "RetainUntilDate": until},
                )
            return False
        client.put_object(
            Bucket=self.bucket_name,
            Key=key,
            Body=data,
            ContentType="application/octet-stream",
            ChecksumAlgorithm="SHA256",
            ObjectLockMode=self.object_lock_mode,
            ObjectLockRetainUntilDate=until,
        )
        return True
