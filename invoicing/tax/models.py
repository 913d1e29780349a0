"""Tax rules per country and category (place of supply), and operators' VAT registrations."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator


class TaxCategory(models.TextChoices):
    ELECTRICITY = "electricity", _("Electricity")
    SERVICES = "services", _("Services")
    SUBSCRIPTION = "subscription", _("Subscription fee")


class TaxTreatment(models.TextChoices):
    CHARGE = "charge", _("Charge VAT")
    REVERSE_CHARGE = "reverse_charge", _("Reverse charge (the customer accounts for the VAT)")
    NO_VAT = "no_vat", _("No VAT (zero-rated or exempt)")


REVERSE_CHARGE_TEXT = (
    "Reverse charge: VAT to be accounted for by the recipient (Art. 194/196 Directive 2006/112/EC)."
)


class TaxRule(models.Model):
    """The VAT of one category in one country from a date on, and what it means per customer.

    The rule in force at the end of a session (in the charge point's local date) applies.
    """

    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166 code, e.g. DE."))
    category = models.CharField(_("category"), max_length=12, choices=TaxCategory.choices)
    valid_from = models.DateField(_("in force from"))
    rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    rate_reason = models.CharField(
        _("reason for a 0 % rate"),
        max_length=200,
        blank=True,
        help_text=_("Printed on the document when the rate is 0 % (zero-rated or exempt)."),
    )
    individual = models.CharField(
        _("individuals"), max_length=16, choices=TaxTreatment.choices, default="charge"
    )
    individual_text = models.CharField(_("text for individuals"), max_length=300, blank=True)
    business_domestic = models.CharField(
        _("businesses of the same country"),
        max_length=16,
        choices=TaxTreatment.choices,
        default="charge",
    )
    business_domestic_text = models.CharField(
        _("text for businesses of the same country"), max_length=300, blank=True
    )
    business_foreign = models.CharField(
        _("businesses with a VAT ID of another country"),
        max_length=16,
        choices=TaxTreatment.choices,
        default="charge",
    )
    business_foreign_text = models.CharField(
        _("text for businesses of another country"), max_length=300, blank=True
    )

    class Meta:
        app_label = "invoicing"
        verbose_name = _("tax rule")
        ordering = ["country", "category", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "category", "valid_from"], name="tax_rule_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.get_category_display()} {self.rate} % from {self.valid_from}"

    def clean(self) -> None:
        """Zero-rated and exempt supplies and reverse charges always print their reason."""
        errors = {}
        if self.country and (len(self.country) != 2 or not self.country.isalpha()):
            errors["country"] = _("Use the two-letter ISO code, e.g. DE.")
        self.country = (self.country or "").upper()
        if self.rate is not None and self.rate == 0 and not self.rate_reason.strip():
            errors["rate_reason"] = _("A 0 % rate needs the reason the document prints.")
        for field in ("individual", "business_domestic", "business_foreign"):
            treatment = getattr(self, field)
            if treatment != TaxTreatment.CHARGE and not getattr(self, f"{field}_text").strip():
                errors[f"{field}_text"] = _(
                    "Reverse charge and no VAT need the text the document prints."
                )
        if errors:
            raise ValidationError(errors)


class VatRegistration(models.Model):
    """The operator's VAT ID in a country it is registered in (printed on supplies there)."""

    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="vat_registrations"
    )
    country = models.CharField(_("country"), max_length=2)
    vat_id = models.CharField(_("VAT ID"), max_length=20)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("VAT registration")
        constraints = [
            models.UniqueConstraint(fields=["operator", "country"], name="vat_registration_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.country}: {self.vat_id}"


class ExchangeRate(models.Model):
    """How many units of a currency one euro bought on a day (the ECB's reference rates, or the
    operator's own), used to state VAT in the supply country's currency and to apply EUR limits.
    """

    currency = models.CharField(_("currency"), max_length=3, help_text=_("ISO 4217, e.g. CHF."))
    rate_date = models.DateField(_("rate date"))
    rate = models.DecimalField(
        _("rate per 1 EUR"),
        max_digits=18,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text=_("Units of the currency for one euro, e.g. 0.9312 for CHF."),
    )
    source = models.CharField(
        _("source"),
        max_length=100,
        default="ECB",
        help_text=_("Printed on documents with the rate, e.g. ECB reference rate."),
    )

    class Meta:
        app_label = "invoicing"
        verbose_name = _("exchange rate")
        ordering = ["currency", "-rate_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "rate_date"], name="exchange_rate_unique_per_day"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 EUR = {self.rate} {self.currency} on {self.rate_date} ({self.source})"

    def clean(self) -> None:
        """A currency is its three-letter ISO 4217 code; EUR needs no rate."""
        self.currency = (self.currency or "").strip().upper()
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValidationError({"currency": _("Use the three-letter ISO 4217 code, e.g. CHF.")})
        if self.currency == "EUR":
            raise ValidationError({"currency": _("Rates are per euro; EUR needs none.")})
