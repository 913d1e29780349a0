"""DATEV settings per operator, the revenue account map, and each customer's debtor account."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator
from invoicing.tax.models import TaxTreatment


class Chart(models.TextChoices):
    SKR03 = "03", _("SKR 03")
    SKR04 = "04", _("SKR 04")


class DatevSettings(models.Model):
    """What the accountant's DATEV client expects: consultant and client numbers, the chart of
    accounts, account length, fiscal year and the ranges of debtor and bank accounts."""

    operator = models.OneToOneField(
        Operator, on_delete=models.CASCADE, related_name="datev_settings"
    )
    consultant_number = models.PositiveIntegerField(
        _("consultant number (Beraternummer)"),
        validators=[MinValueValidator(1001), MaxValueValidator(9999999)],
    )
    client_number = models.PositiveIntegerField(
        _("client number (Mandantennummer)"),
        validators=[MinValueValidator(1), MaxValueValidator(99999)],
    )
    chart = models.CharField(
        _("chart of accounts"), max_length=2, choices=Chart.choices, default=Chart.SKR03
    )
    account_length = models.PositiveSmallIntegerField(
        _("G/L account length (Sachkontenlänge)"),
        default=4,
        validators=[MinValueValidator(4), MaxValueValidator(8)],
        help_text=_("Digits of a G/L account; debtor accounts have one digit more."),
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        _("fiscal year starts in month"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    debtor_range_start = models.PositiveIntegerField(_("first debtor account"), default=10000)
    debtor_range_end = models.PositiveIntegerField(_("last debtor account"), default=69998)
    walk_in_debtor = models.PositiveIntegerField(
        _("debtor account of walk-in customers"),
        default=69999,
        help_text=_(
            "Anonymous and ad-hoc (e-mail only) customers share this one debtor "
            "(Sammeldebitor) instead of getting one each."
        ),
    )
    bank_account = models.PositiveIntegerField(
        _("bank account"),
        default=1200,
        help_text=_("Where payments are booked: 1200 in SKR 03, 1800 in SKR 04."),
    )
    initials = models.CharField(
        _("initials (Diktatkürzel)"), max_length=2, blank=True, help_text=_("Two letters.")
    )
    lock_bookings = models.BooleanField(
        _("lock the batch on import (Festschreibung)"),
        default=False,
        help_text=_("Off: the accountant checks the batch before locking it in DATEV."),
    )

    class Meta:
        app_label = "invoicing"
        verbose_name = _("DATEV settings")
        verbose_name_plural = _("DATEV settings")

    def __str__(self) -> str:
        return f"DATEV settings of {self.operator}"

    def clean(self) -> None:
        """Debtor accounts are one digit longer than G/L accounts and never overlap them."""
        errors = {}
        digits = (self.account_length or 4) + 1
        low, high = 10 ** (digits - 1), 10**digits - 1
        start, end = self.debtor_range_start, self.debtor_range_end
        if start is not None and end is not None:
            if start > end:
                errors["debtor_range_end"] = _("The last debtor account is before the first.")
            elif not (low <= start and end <= high):
                errors["debtor_range_start"] = _(
                    "With G/L accounts of %(length)s digits debtor accounts have %(digits)s "
                    "digits (%(low)s to %(high)s)."
                ) % {"length": digits - 1, "digits": digits, "low": low, "high": high}
        walk_in = self.walk_in_debtor
        if walk_in is not None and start is not None and end is not None:
            if not low <= walk_in <= high:
                errors["walk_in_debtor"] = _("A debtor account has %(digits)s digits.") % {
                    "digits": digits
                }
            elif start <= walk_in <= end:
                errors["walk_in_debtor"] = _("Keep it outside the range of customers' debtors.")
        if self.bank_account is not None and len(str(self.bank_account)) > digits - 1:
            errors["bank_account"] = _("A G/L account has at most %(length)s digits.") % {
                "length": digits - 1
            }
        if self.initials and not (len(self.initials) == 2 and self.initials.isalpha()):
            errors["initials"] = _("Two letters, e.g. VW.")
        if errors:
            raise ValidationError(errors)


class RevenueAccount(models.Model):
    """The revenue account (and BU key) a document's sale is booked on, per chart, country of
    supply, VAT category, treatment and rate. "EU" stands for any other EU country, "*" for
    any country; an empty category or rate matches any."""

    ANY_COUNTRY = "*"
    OTHER_EU = "EU"

    chart = models.CharField(_("chart of accounts"), max_length=2, choices=Chart.choices)
    country = models.CharField(
        _("country of supply"),
        max_length=2,
        help_text=_('ISO code (DE), "EU" for any other EU country, "*" for any country.'),
    )
    category = models.CharField(
        _("VAT category"),
        max_length=12,
        blank=True,
        help_text=_("electricity, services or subscription; empty for any."),
    )
    treatment = models.CharField(_("treatment"), max_length=16, choices=TaxTreatment.choices)
    rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty for any rate."),
    )
    account = models.PositiveIntegerField(_("revenue account"))
    bu_key = models.CharField(
        _("BU key"),
        max_length=4,
        blank=True,
        help_text=_("Empty for automatic accounts, which know their VAT themselves."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("revenue account")
        ordering = ["chart", "country", "category", "treatment", "rate"]
        constraints = [
            models.UniqueConstraint(
                fields=["chart", "country", "category", "treatment", "rate"],
                condition=Q(rate__isnull=False),
                name="revenue_account_unique",
            ),
            # "Any rate" once per chart, country, category and treatment too.
            models.UniqueConstraint(
                fields=["chart", "country", "category", "treatment"],
                condition=Q(rate__isnull=True),
                name="revenue_account_any_rate_unique",
            ),
        ]

    def __str__(self) -> str:
        rate = "any rate" if self.rate is None else f"{self.rate} %"
        category = self.category or "any category"
        return f"{self.get_chart_display()} {self.country} {category} {self.treatment} {rate}"

    def clean(self) -> None:
        self.country = (self.country or "").upper()
        if not (self.country in (self.ANY_COUNTRY, self.OTHER_EU) or len(self.country) == 2):
            raise ValidationError({"country": _('Use an ISO code, "EU" or "*".')})
        if self.bu_key and not self.bu_key.isdigit():
            raise ValidationError({"bu_key": _("A BU key is digits, e.g. 3.")})


class DebtorAccount(models.Model):
    """A customer's DATEV debtor account: given once, from the operator's range, never changed."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="debtor_account"
    )
    number = models.PositiveIntegerField(_("debtor account"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("debtor account")
        ordering = ["operator", "number"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "number"], name="debtor_account_unique"),
            models.CheckConstraint(condition=Q(number__gt=0), name="debtor_account_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.customer}"
