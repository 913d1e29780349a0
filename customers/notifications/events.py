"""The events a driver is told about, each with its templates and whether it may be switched off."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Event:
    code: str
    label: str
    # Template names without suffix:
    # `<base>_subject.txt`, `<base>.txt`, `<base>.html`, `<base>_sms.txt`.
    templates: str
    # Required by law or contract (e.g. the SEPA pre-notification): preferences cannot stop it.
    mandatory: bool = False
    # Carries a secret (a password-reset link): the text is blanked as soon as it is sent.
    secret: bool = False


EVENTS: dict[str, Event] = {
    event.code: event
    for event in (
        Event("payment_due_soon", _("Payment due soon"), "invoicing/email/subscription_reminder"),
        Event("overdue", _("Payment overdue"), "invoicing/email/subscription_overdue"),
        Event("payment_succeeded", _("Payment succeeded"), "notifications/payment_succeeded"),
        Event("payment_failed", _("Payment failed"), "notifications/payment_failed"),
        Event("refund_made", _("Refund made"), "notifications/refund_made"),
        Event(
            "direct_debit_pre_notification",
            _("Direct-debit pre-notification"),
            "notifications/direct_debit_pre_notification",
            mandatory=True,
        ),
        Event(
            "password_reset",
            _("Portal password reset"),
            "portal/email/password_reset",
            mandatory=True,
            secret=True,
        ),
    )
}
