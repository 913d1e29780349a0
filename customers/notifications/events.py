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
    # The e-mail carries the files of what it is `regarding` (a document's PDF and XML).
    attachments: bool = False


EVENTS: dict[str, Event] = {
    event.code: event
    for event in (
        # Mandatory when the operator e-mails documents: the customer gets them that way.
        Event(
            "document_issued",
            _("Document issued"),
            "invoicing/email/document",
            attachments=True,
        ),
        Event("receipt_ready", _("Receipt ready"), "notifications/receipt_ready"),
        # The driver left an address on the public receipt page for exactly this e-mail.
        Event(
            "receipt_email",
            _("Receipt e-mailed on request"),
            "invoicing/email/document",
            mandatory=True,
            attachments=True,
        ),
        Event("payment_due_soon", _("Payment due soon"), "notifications/payment_due_soon"),
        Event("overdue", _("Payment overdue"), "invoicing/email/subscription_overdue"),
        Event(
            "subscription_suspended",
            _("Charging suspended"),
            "notifications/subscription_suspended",
        ),
        Event(
            "subscription_reactivated",
            _("Charging active again"),
            "notifications/subscription_reactivated",
        ),
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
        Event(
            "portal_invitation",
            _("Portal invitation"),
            "portal/email/portal_invitation",
            mandatory=True,
            secret=True,
        ),
    )
}
