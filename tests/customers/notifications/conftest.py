"""Text messages in these tests go to files, at any hour."""

from __future__ import annotations

import pytest

from cpo_portal.kernel import sms
from tests.customers.notifications import backends


@pytest.fixture(autouse=True)
def _sms_to_files(settings, tmp_path):
    settings.SMS_BACKEND = "cpo_portal.kernel.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    backends.FAILURES["left"] = 0
    settings.SMS_QUIET_HOURS = (0, 0)  # no quiet hours unless a test sets them
    sms._backend.cache_clear()
    yield
    sms._backend.cache_clear()
