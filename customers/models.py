"""Customers (who is billed), their invoice details and the tokens that identify them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Customer(models.Model):
    """Someone the operator bills: driver, company, the anonymous customer or an ad-hoc e-mail."""

    class Kind(models.TextChoices):
        INDIVIDUAL = "individual", _("Individual")
        COMPANY = "company", _("Company")
        ANONYMOUS = "anonymous", _("Anonymous")
        AD_HOC = "ad_hoc", _("Ad-hoc (e-mail only)")

    class BillingMode(models.TextChoices):
        OPERATOR_DEFAULT = "", _("Operator's issuing schedule")
        PER_SESSION = "per_session", _("Per session")
        MONTHLY = "monthly", _("Monthly")

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="customers"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, db_index=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    company_name = models.CharField(_("company name"), max_length=200, blank=True)
    company_registration_id = models.CharField(
        _("company registration ID"), max_length=50, blank=True
    )
    vat_id = models.CharField(_("VAT ID"), max_length=20, blank=True, db_index=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2, e.g. DE.")
    )
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, blank=True)
    requires_invoice = models.BooleanField(_("requires invoice"), default=False)
    billing_mode = models.CharField(
        _("billing mode"),
        max_length=12,
        choices=BillingMode.choices,
        blank=True,
        default=BillingMode.OPERATOR_DEFAULT,
    )
    email_collected_at = models.DateTimeField(
        _("e-mail collected at"),
        null=True,
        blank=True,
        help_text=_("Ad-hoc e-mails are erased 30 days after this moment."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator"],
                condition=Q(kind="anonymous"),
                name="one_anonymous_customer_per_operator",
            ),
        ]
        indexes = [models.Index(fields=["operator", "kind"])]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.kind == self.Kind.COMPANY and self.company_name:
            return self.company_name
        if self.kind == self.Kind.ANONYMOUS:
            return str(_("Anonymous customer"))
        return self.name or self.email or f"Customer #{self.pk}"


class ChargingToken(models.Model):
    """An RFID card, app account or contract ID that links sessions to a customer."""

    class Kind(models.TextChoices):
        RFID = "rfid", _("RFID card")
        APP = "app", _("App user")
        CONTRACT_ID = "contract_id", _("Contract ID (eMAID)")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    uid = models.CharField(_("token UID"), max_length=64)
    is_blocked = models.BooleanField(_("blocked"), default=False)
    blocked_reason = models.CharField(_("blocked reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uid"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "uid"], name="token_uid_unique_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.uid}"
