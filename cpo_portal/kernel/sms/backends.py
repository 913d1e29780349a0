"""SMS gateways: a console and a file backend for laptops and tests, Twilio for production."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """A text could not be sent; `retryable` says whether trying again later may succeed."""

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class SmsBackend:
    """A gateway: sends one text and returns its own id for it."""

    def send(self, *, to: str, body: str) -> str:
        raise NotImplementedError


def _message_text(message_id: str, to: str, body: str) -> str:
    return (
        f"Message-Id: {message_id}\nDate: {timezone.now().isoformat()}\nTo: {to}\n"
        f"From: {settings.SMS_FROM}\n\n{body}\n"
    )


class ConsoleBackend(SmsBackend):
    """Prints each text on standard output (for a developer watching the worker)."""

    def send(self, *, to: str, body: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        sys.stdout.write(_message_text(message_id, to, body) + "-" * 72 + "\n")
        sys.stdout.flush()
        return message_id


class FileBackend(SmsBackend):
    """Writes each text as a file in SMS_FILE_PATH, as Django's file e-mail backend does."""

    def send(self, *, to: str, body: str) -> str:
        message_id = f"file-{uuid.uuid4().hex}"
        folder = Path(settings.SMS_FILE_PATH)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            (folder / f"{stamp}-{message_id}.sms").write_text(
                _message_text(message_id, to, body), encoding="utf-8"
            )
        except OSError as exc:
            raise SmsError(
                f"The SMS folder cannot be written: {exc.strerror}", retryable=True
            ) from exc
        return message_id


# Twilio error codes that will not go away by trying again (the number or the text is wrong).
TWILIO_PERMANENT_STATUSES = {400, 401, 403, 404}


class TwilioBackend(SmsBackend):
    """Twilio's Messages API through its official SDK (TWILIO_* settings)."""

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=TwilioHttpClient(timeout=settings.SMS_TIMEOUT),
        )
        if settings.TWILIO_API_BASE:
            # Tests point the SDK at a Twilio stand-in on 127.0.0.1.
            self.client.api.base_url = settings.TWILIO_API_BASE

    def send(self, *, to: str, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self.client.messages.create(to=to, from_=settings.SMS_FROM, body=body)
        except TwilioRestException as exc:
            retryable = exc.status not in TWILIO_PERMANENT_STATUSES
            raise SmsError(
                f"Twilio refused the SMS ({exc.status}, code {exc.code}): {exc.msg}",
                retryable=retryable,
            ) from exc
        except (TwilioException, OSError) as exc:
            raise SmsError(f"Twilio could not be reached: {exc}", retryable=True) from exc
        return message.sid
