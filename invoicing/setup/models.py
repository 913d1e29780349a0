"""An operator's invoicing settings, numbering series and issuing profiles."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from stdnum import iban

from cpo_portal.kernel.tenancy import Operator
from customers.models import EInvoiceFormat

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


def validate_iban(value: str) -> None:
    """An IBAN with a valid country format and check digits (spaces allowed)."""
    if value and not iban.is_valid(value):
        raise ValidationError(_("Enter a valid IBAN, e.g. DE89 3704 0044 0532 0130 00."))


def validate_creditor_identifier(value: str) -> None:
    """A SEPA creditor id: country, check digits (ISO 7064 mod 97-10), business code, id."""
    compact = "".join(value.split()).upper()
    if not value:
        return
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{3}[A-Z0-9]{1,28}", compact):
        raise ValidationError(_("Enter a valid SEPA creditor identifier, e.g. DE98ZZZ09999999999."))
    # The business code (positions 5-7) is not part of the check.
    rearranged = compact[7:] + compact[:2] + compact[2:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    if int(digits) % 97 != 1:
        raise ValidationError(_("The check digits of this SEPA creditor identifier are wrong."))


vat_rate_validators = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


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
    # E-invoices (docs/einvoices.md)
    einvoice_format = models.CharField(
        _("e-invoice format for business customers"),
        max_length=16,
        choices=EInvoiceFormat.choices,
        default=EInvoiceFormat.NONE,
        db_default=EInvoiceFormat.NONE,
        help_text=_("Sent with every invoice and credit note of a company; customers may differ."),
    )
    iban = models.CharField(
        _("IBAN"),
        max_length=34,
        blank=True,
        default="",
        db_default="",
        validators=[validate_iban],
        help_text=_("The account customers pay to; e-invoices state it (BT-84)."),
    )
    bic = models.CharField(_("BIC"), max_length=11, blank=True, default="", db_default="")
    sepa_creditor_identifier = models.CharField(
        _("SEPA creditor identifier"),
        max_length=35,
        blank=True,
        default="",
        db_default="",
        validators=[validate_creditor_identifier],
        help_text=_("Needed to collect invoices by SEPA direct debit (docs/payments.md)."),
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


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    PRO_FORMA = "pro_forma", _("Pro forma invoice")
    SALES_RECEIPT = "sales_receipt", _("Sales receipt")
    CREDIT_NOTE = "credit_note", _("Credit note")


DEFAULT_PREFIXES = {
    DocumentKind.INVOICE: "INV-",
    DocumentKind.PRO_FORMA: "PF-",
    DocumentKind.SALES_RECEIPT: "SR-",
    DocumentKind.CREDIT_NOTE: "CN-",
}


class NumberingSeries(models.Model):
    """A gap-free number sequence for one document kind; numbers are taken at issue, under lock."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="series")
    kind = models.CharField(_("document kind"), max_length=16, choices=DocumentKind.choices)
    prefix = models.CharField(_("prefix"), max_length=20, blank=True)
    next_number = models.PositiveBigIntegerField(
        _("next number"),
        default=1,
        help_text=_("The number the next issued document gets (the starting number at first)."),
    )
    padding = models.PositiveSmallIntegerField(
        _("zero padding"),
        default=6,
        validators=[MaxValueValidator(12)],
        help_text=_("Digits, e.g. 6 prints number 42 as 000042."),
    )
    yearly_prefix = models.CharField(
        _("yearly prefix"),
        max_length=20,
        blank=True,
        help_text=_(
            "e.g. INV-{year}-: the first document issued in a new year (issue date, operator's "
            "time zone) starts the year's prefix at 1 and closes the old one. Empty: one series."
        ),
    )
    # A prefix that was succeeded by another one; its numbers stay, it never numbers again.
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("numbering series")
        verbose_name_plural = _("numbering series")
        ordering = ["operator", "kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "kind"],
                condition=Q(closed_at__isnull=True),
                name="one_open_series_per_kind",
            ),
            models.UniqueConstraint(
                fields=["operator", "kind", "prefix"], name="series_prefix_never_reused"
            ),
            models.CheckConstraint(condition=Q(next_number__gte=1), name="series_starts_at_one"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.format(self.next_number)}…"

    def format(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.padding}d}"


class IssuingProfile(models.Model):
    """Supplier details and content options as a document was issued with them, stored once."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    supplier = models.JSONField(_("supplier"))
    content = models.JSONField(_("content options"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.supplier.get('legal_name', '')} ({self.sha256[:12]})"
