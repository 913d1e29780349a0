"""Outbound messages and their send attempts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class OutboundMessage(models.Model):
    """One message to one recipient on one channel: queued, sent at most once, or failed."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    event = models.CharField(_("event"), max_length=40, db_index=True)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    language = models.CharField(_("language"), max_length=8)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body_text = models.TextField(_("text"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    # Why a message exists once: a task or a daily job running twice queues it once.
    dedupe_key = models.CharField(  # noqa: DJ001  (NULL: many rows have none, unique among the rest)
        _("dedupe key"), max_length=120, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"), db_index=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    # What the message is about (`document:12`): its admin lists the messages, and the sender
    # attaches that object's files (registered by the layer that owns them) when it sends.
    regarding = models.CharField(
        _("regarding"), max_length=60, blank=True, default="", db_default="", db_index=True
    )
    # Where answers go (the operator's billing address on a document e-mail).
    reply_to = models.EmailField(_("reply to"), blank=True, default="", db_default="")
    is_resend = models.BooleanField(_("re-sent by staff"), default=False)
    created_at = models.DateTimeField(_("queued at"), auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(_("attempt started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    erased_at = models.DateTimeField(_("body erased at"), null=True, blank=True)

    class Meta:
        app_label = "customers"
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="one_outbound_message_per_dedupe_key",
            ),
        ]
        # The workers' claim reads only unsent rows in due order; sent rows, the bulk of the
        # table, stay out of its way.
        indexes = [
            models.Index(
                fields=["not_before", "id"],
                condition=Q(status__in=["queued", "sending"]),
                name="outbound_message_claimable",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} · {self.get_channel_display()} #{self.pk}"

    def get_event_display(self) -> str:
        from customers.notifications.events import EVENTS

        event = EVENTS.get(self.event)
        return str(event.label) if event else self.event


class MessageAttempt(models.Model):
    """One try at handing a message to the e-mail or SMS provider, with what came back."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), auto_now_add=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    provider_message_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        app_label = "customers"
        verbose_name = _("send attempt")
        verbose_name_plural = _("send attempts")
        ordering = ["message", "started_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.started_at:%Y-%m-%d %H:%M}"


class NotificationPreference(models.Model):
    """How a customer wants to hear of one event: e-mail, SMS, both or not at all."""

    class Channels(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        BOTH = "both", _("E-mail and SMS")
        NONE = "none", _("Not at all")

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(_("event"), max_length=40)
    channels = models.CharField(_("channels"), max_length=8, choices=Channels.choices)

    class Meta:
        app_label = "customers"
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "event"], name="one_notification_preference_per_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event}: {self.get_channels_display()}"


class MessageTemplate(models.Model):
    """The operator's own wording of one event on one channel in one language; it replaces the
    shipped template for that language only, so other languages keep the shipped text."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.CASCADE, related_name="message_templates"
    )
    event = models.CharField(_("event"), max_length=40)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    language = models.CharField(_("language"), max_length=8)
    subject = models.CharField(
        _("subject"), max_length=300, blank=True, help_text=_("E-mail only.")
    )
    body_text = models.TextField(
        _("text"), help_text=_("The e-mail's plain text, or the SMS. Django template syntax.")
    )
    body_html = models.TextField(
        _("HTML"),
        blank=True,
        help_text=_("E-mail only; empty sends the plain text alone. Django template syntax."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "customers"
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "event", "channel", "language"],
                name="one_message_template_per_event_channel_language",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} · {self.get_channel_display()} · {self.language}"
