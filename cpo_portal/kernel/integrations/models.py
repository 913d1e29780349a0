"""Integrators, their API keys, idempotency records and webhooks."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator


class Integrator(models.Model):
    """A system that uses the API for one operator: it holds API keys and webhook endpoints."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="integrators")
    name = models.CharField(_("name"), max_length=100)
    session_source = models.CharField(
        _("session source"),
        max_length=50,
        unique=True,
        help_text=_(
            "Stored as the source of the sessions this integrator sends; their source IDs are "
            "unique within it."
        ),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Switching an integrator off disables all its keys and webhooks at once."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        ordering = ["operator", "name"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "name"], name="integrator_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.operator})"


class ApiKey(models.Model):
    """An integrator's API key: only a SHA-256 of it is stored; revocable, expiring, scoped."""

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        WRITE = "write", _("Read and write")

    integrator = models.ForeignKey(Integrator, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What the key is for, e.g. “ERP export”.")
    )
    prefix = models.CharField(
        _("prefix"),
        max_length=24,
        unique=True,
        help_text=_("The public start of the key, to recognise it; the rest is never stored."),
    )
    secret_hash = models.CharField(_("SHA-256 of the key"), max_length=64)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices, default=Scope.READ)
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Empty: the key does not expire.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        help_text=_("Throttle of this key; empty: the API_KEY_RATE setting."),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["integrator", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """A write sent with an Idempotency-Key: its request fingerprint and the response it got."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        COMPLETED = "completed", _("Completed")

    integrator = models.ForeignKey(
        Integrator, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    request_hash = models.CharField(_("SHA-256 of method, path and body"), max_length=64)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.IN_FLIGHT
    )
    locked_until = models.DateTimeField(
        _("in flight until"),
        null=True,
        blank=True,
        help_text=_("A request that crashed leaves its key free again after this moment."),
    )
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.TextField(_("response body"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        app_label = "invoicing"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integrator", "key"], name="idempotency_key_unique_per_integrator"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"


class WebhookEventType(models.TextChoices):
    SESSION_PRICED = "session.priced", _("Session priced")
    INVOICE_ISSUED = "invoice.issued", _("Document issued")
    INVOICE_PAID = "invoice.paid", _("Document paid")
    INVOICE_OVERDUE = "invoice.overdue", _("Document overdue")
    INVOICE_CREDITED = "invoice.credited", _("Document credited")
    PAYMENT_SUCCEEDED = "payment.succeeded", _("Payment succeeded")
    PAYMENT_FAILED = "payment.failed", _("Payment failed or returned")
    PAYMENT_REFUNDED = "payment.refunded", _("Payment refunded")
    NOTIFICATION_FAILED = "notification.failed", _("Message to a driver failed")


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    """A URL of an integrator that receives signed events (all, or those ticked)."""

    integrator = models.ForeignKey(
        Integrator, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(
        _("events"),
        default=list,
        blank=True,
        help_text=_("The event types sent to this URL; none ticked: every event."),
    )
    secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=new_webhook_secret,
        help_text=_("The receiver verifies each delivery's signature with this secret."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["integrator", "url"]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """The outbox: an event written in the transaction that caused it, with its exact body."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="webhook_events")
    message_id = models.CharField(_("webhook ID"), max_length=40, unique=True)
    type = models.CharField(_("type"), max_length=32, choices=WebhookEventType.choices)
    object_id = models.PositiveBigIntegerField(_("object ID"))
    body = models.TextField(_("body"), help_text=_("The JSON sent and signed, byte for byte."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.object_id} ({self.message_id})"


class WebhookDelivery(models.Model):
    """One event to one endpoint: retried with growing delays until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (gave up)")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    locked_until = models.DateTimeField(
        _("sending until"),
        null=True,
        blank=True,
        help_text=_("A worker is sending it; after this moment another one may."),
    )
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="webhook_delivered_once_per_endpoint"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint} ({self.get_status_display()})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, the answer (or the error) and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveSmallIntegerField(_("attempt"))
    attempted_at = models.DateTimeField(_("attempted at"))
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    response_excerpt = models.TextField(_("response (start)"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))

    class Meta:
        app_label = "invoicing"
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delivery} attempt {self.number}"
