"""Operator (the supplier on every document) and its invoicing settings."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

INVOICE_DETAIL_FIELDS = (
    "name",
    "company_name",
    "company_registration_id",
    "vat_id",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
)
DEFAULT_MANDATORY_FOR_INDIVIDUALS = ["name", "email"]
DEFAULT_MANDATORY_FOR_COMPANIES = [
    "company_name",
    "vat_id",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
]


def default_mandatory_for_individuals() -> list[str]:
    return list(DEFAULT_MANDATORY_FOR_INDIVIDUALS)


def default_mandatory_for_companies() -> list[str]:
    return list(DEFAULT_MANDATORY_FOR_COMPANIES)


vat_rate_validators = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InvoicingSettings(models.Model):
    """How an operator turns sessions into documents; changes never alter issued documents."""

    class DocumentType(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        PRO_FORMA = "pro_forma", _("Pro forma (for third-party invoicing systems)")

    class IssuingSchedule(models.TextChoices):
        PER_SESSION = "per_session", _("After each session")
        MONTHLY = "monthly", _("Monthly")
        COLLECT_ONLY = "collect_only", _("Collect details only (no documents)")

    class ServicesTable(models.TextChoices):
        SINGLE = "single", _("Single row")
        DETAILED = "detailed", _("Detailed (a row per service)")

    operator = models.OneToOneField(
        Operator, on_delete=models.CASCADE, related_name="invoicing_settings"
    )
    # General configuration
    document_type = models.CharField(
        _("document type"),
        max_length=20,
        choices=DocumentType.choices,
        default=DocumentType.INVOICE,
        help_text=_("Pro forma when another system issues the legal invoices."),
    )
    always_issue = models.BooleanField(
        _("always issue a document"),
        default=False,
        help_text=_(
            "Issue a sales receipt even for customers who did not ask for an invoice "
            "(mandatory in some markets), using their details or the anonymous customer."
        ),
    )
    default_language = models.CharField(
        _("default language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    electricity_vat_rate = models.DecimalField(
        _("electricity VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("19.00"),
        validators=vat_rate_validators,
        help_text=_("Applied to energy when the tariff does not state its own VAT."),
    )
    services_vat_rate = models.DecimalField(
        _("services VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("19.00"),
        validators=vat_rate_validators,
        help_text=_(
            "Applied to charging time, idle fees and connection fees when the tariff does "
            "not state its own VAT."
        ),
    )
    mandatory_fields_individual = models.JSONField(
        _("mandatory invoice details for individuals"),
        default=default_mandatory_for_individuals,
        blank=True,
    )
    mandatory_fields_company = models.JSONField(
        _("mandatory invoice details for companies"),
        default=default_mandatory_for_companies,
        blank=True,
    )
    payment_grace_days = models.PositiveSmallIntegerField(
        _("payment grace period (days)"),
        default=14,
        help_text=_("Due date = issue date + this many days."),
    )
    # Issuing schedule
    issuing_schedule = models.CharField(
        _("issuing schedule"),
        max_length=20,
        choices=IssuingSchedule.choices,
        default=IssuingSchedule.MONTHLY,
    )
    auto_email = models.BooleanField(
        _("e-mail documents automatically"),
        default=True,
        help_text=_("Send the PDF to the customer as soon as the document is issued."),
    )
    # Content
    show_country = models.BooleanField(_("show country of delivery"), default=True)
    show_energy = models.BooleanField(_("show total energy"), default=True)
    show_duration = models.BooleanField(_("show total duration"), default=True)
    services_table = models.CharField(
        _("services table"),
        max_length=10,
        choices=ServicesTable.choices,
        default=ServicesTable.DETAILED,
    )
    breakdown_page = models.BooleanField(
        _("add a services breakdown page"),
        default=True,
        help_text=_("One row per session component: date, service, unit, price, quantity."),
    )
    services_label = models.CharField(
        _("services label"), max_length=100, default="EV Charging Services"
    )
    hide_energy = models.BooleanField(
        _("hide energy"),
        default=False,
        help_text=_(
            "For markets where a CPO may not sell electricity: no kWh and no per-kWh price "
            "anywhere, the service is just the services label."
        ),
    )
    notice = models.TextField(_("invoice notice"), blank=True)
    custom_text = models.TextField(_("custom text"), blank=True)
    logo = models.ImageField(_("logo"), upload_to="logos/", blank=True)

    class Meta:
        verbose_name = _("invoicing settings")
        verbose_name_plural = _("invoicing settings")

    def __str__(self) -> str:
        return f"Invoicing settings of {self.operator}"
