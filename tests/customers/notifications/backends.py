"""A mail server that is down for its first calls, as a real SMTP outage looks to Django."""

from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend

FAILURES = {"left": 0}


class FlakyBackend(EmailBackend):
    """Refuses the connection while FAILURES['left'] > 0, then delivers to mail.outbox."""

    def send_messages(self, messages):
        if FAILURES["left"] > 0:
            FAILURES["left"] -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)
