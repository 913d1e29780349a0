"""Monthly summary tables of the dashboard: the front page reads these, never the session table."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _


class SessionMonth(models.Model):
    """Sessions and energy of one location in one month (operator's time zone)."""

    month = models.DateField(_("month"))
    location = models.ForeignKey(
        "charging.Location", on_delete=models.CASCADE, related_name="+", verbose_name=_("location")
    )
    sessions = models.PositiveIntegerField(_("sessions"), default=0)
    energy_kwh = models.DecimalField(
        _("energy (kWh)"), max_digits=16, decimal_places=3, default=Decimal("0")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "location"], name="session_month_unique")
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.location_id}"


class RevenueMonth(models.Model):
    """Issued net amount of one month by country of supply, VAT rate and currency."""

    month = models.DateField(_("month"))
    country = models.CharField(_("country"), max_length=2, blank=True)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    net = models.DecimalField(_("net"), max_digits=18, decimal_places=3, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "country", "vat_rate", "currency"], name="revenue_month_unique"
            )
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.country} {self.vat_rate}% {self.currency}"
