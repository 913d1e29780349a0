"""The archive's tests write to a fresh write-once folder each."""

from __future__ import annotations

import pytest


@pytest.fixture
def archive_dir(settings, tmp_path):
    folder = tmp_path / "archive"
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "invoicing.archive.storage.WriteOnceFileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    return folder
