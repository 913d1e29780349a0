"""Text messages to drivers: one function to send, the gateway chosen by the SMS_BACKEND setting.

The file backend is the embedded default (`make run`); production names a provider backend
(Twilio ships with the product). docs/notifications.md says how to add another provider.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from cpo_portal.kernel.sms.backends import SmsBackend, SmsError
from cpo_portal.kernel.sms.phones import normalise_phone
from cpo_portal.kernel.sms.segments import fit_sms, sms_segments

__all__ = ["SmsBackend", "SmsError", "fit_sms", "normalise_phone", "send_sms", "sms_segments"]


@cache
def _backend(path: str) -> SmsBackend:
    return import_string(path)()


def send_sms(*, to: str, body: str) -> str:
    """Send one text to an E.164 number; returns the gateway's message id (SmsError if not)."""
    if not body.strip():
        raise SmsError("An SMS needs a text.", retryable=False)
    return _backend(settings.SMS_BACKEND).send(to=normalise_phone(to), body=body)
