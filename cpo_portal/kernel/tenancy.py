"""The operator (tenant): the CPO every customer, session and document belongs to."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Operator(models.Model):
    """A Charge Point Operator: the supplier named on every document it issues."""

    name = models.CharField(_("trading name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=200)
    street = models.CharField(_("street"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2."))
    vat_id = models.CharField(_("VAT ID"), max_length=20, blank=True)
    tax_number = models.CharField(_("tax number"), max_length=40, blank=True)
    email = models.EmailField(_("billing e-mail"))
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    bank_details = models.TextField(
        _("payment information"), blank=True, help_text=_("IBAN/BIC or payment instructions.")
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Europe/Berlin",
        help_text=_("IANA name. Decides issue dates and where a billing month starts and ends."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
