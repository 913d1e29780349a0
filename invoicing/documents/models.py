"""Documents (invoices, pro forma, receipts, credit notes), their lines and billed sessions."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Round
from django.utils.translation import gettext_lazy as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NotAVatId

from cpo_portal.kernel.errors import StateConflict
from cpo_portal.kernel.search import TRIGRAM_MIN_LENGTH, UpperIndex, UpperTrigramIndex
from cpo_portal.kernel.tenancy import Operator
from invoicing.setup.models import DocumentKind, IssuingProfile, NumberingSeries


class IssuedDocumentError(StateConflict):
    """An issued document, its lines or its number were about to be changed or deleted."""


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    PAID = "paid", _("Paid")
    OVERDUE = "overdue", _("Overdue")
    CREDITED = "credited", _("Credited")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DocumentOrigin(models.TextChoices):
    PER_SESSION = "per_session", _("After a session")
    MONTHLY = "monthly", _("Monthly billing run")
    SUBSCRIPTION = "subscription", _("Subscription renewal")
    CORRECTION = "correction", _("Correction")


RECIPIENT_FIELDS = (
    "recipient_name",
    "recipient_company_registration_id",
    "recipient_vat_id",
    "recipient_street",
    "recipient_postal_code",
    "recipient_city",
    "recipient_country",
    "recipient_email",
)


class CaseInsensitivePrefixIndex(UpperIndex):
    """An index on UPPER(field) for `istartswith` (and `iexact`) lookups of the admin search.

    PostgreSQL needs the text_pattern_ops operator class for LIKE 'ABC%' to use an index under
    a non-C collation; other databases (SQLite in development) get a plain expression index.
    """

    opclass_sql = "text_pattern_ops"


class AmountField(models.DecimalField):
    """A document amount: stored with 3 decimals so BHD and KWD fit, read back with cents unless
    the third decimal is used, so amounts in 2-decimal currencies read as they always did."""

    CENTS = Decimal("0.01")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 15)
        kwargs.setdefault("decimal_places", 3)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        value = Decimal(value)
        cents = value.quantize(self.CENTS)
        return cents if cents == value else value


class DocumentQuerySet(models.QuerySet):
    def search(self, term: str) -> DocumentQuerySet:
        """Documents whose recipient name holds the term (any case; from three characters, a
        shorter term starts it), whose number or recipient e-mail starts with it, or whose
        recipient VAT ID is the term; each alternative is an index scan."""
        term = term.strip()
        if not term:
            return self
        found = Q()
        for number in {term, term.upper()}:
            found |= Q(display_number__startswith=number)
        if len(term) >= TRIGRAM_MIN_LENGTH:
            found |= Q(recipient_name__icontains=term)
        else:
            found |= Q(recipient_name__istartswith=term)
        found |= Q(recipient_email__istartswith=term)
        with contextlib.suppress(NotAVatId):  # when the term is no VAT ID, not searched as one
            found |= Q(recipient_vat_id=eu_vat.compact(term))
        return self.filter(found)


class Document(models.Model):
    """An invoice, pro forma, sales receipt or credit note; once issued it never changes."""

    Kind = DocumentKind
    Status = DocumentStatus
    Origin = DocumentOrigin

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(_("type"), max_length=16, choices=DocumentKind.choices)
    origin = models.CharField(_("origin"), max_length=16, choices=DocumentOrigin.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DocumentStatus.choices,
        default=DocumentStatus.DRAFT,
    )
    series = models.ForeignKey(
        NumberingSeries, on_delete=models.PROTECT, related_name="documents", null=True, blank=True
    )
    number = models.PositiveBigIntegerField(_("sequence number"), null=True, blank=True)
    display_number = models.CharField(_("number"), max_length=40, blank=True, db_index=True)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="documents"
    )
    billing_run = models.ForeignKey(
        "BillingRun",
        on_delete=models.PROTECT,
        related_name="documents",
        null=True,
        blank=True,
    )
    credited_document = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        related_name="credit_notes",
        null=True,
        blank=True,
        verbose_name=_("credited document"),
    )
    reason = models.TextField(_("reason"), blank=True)
    profile = models.ForeignKey(IssuingProfile, on_delete=models.PROTECT, related_name="+")
    language = models.CharField(_("language"), max_length=8)
    currency = models.CharField(_("currency"), max_length=3)
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"))
    period_start = models.DateField(_("service period from"))
    period_end = models.DateField(_("service period to"))
    recipient_name = models.CharField(_("recipient name"), max_length=200, blank=True)
    recipient_company_registration_id = models.CharField(
        _("company registration ID"), max_length=50, blank=True
    )
    recipient_vat_id = models.CharField(_("recipient VAT ID"), max_length=20, blank=True)
    recipient_street = models.CharField(_("street"), max_length=200, blank=True)
    recipient_postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    recipient_city = models.CharField(_("city"), max_length=100, blank=True)
    recipient_country = models.CharField(_("country"), max_length=2, blank=True)
    recipient_email = models.EmailField(_("e-mail"), blank=True)
    delivery_country = models.CharField(_("country of delivery"), max_length=60, blank=True)
    supplier_vat_id = models.CharField(
        _("supplier VAT ID"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text=_("The operator's VAT ID for the country of supply, as printed."),
    )
    session_count = models.PositiveIntegerField(_("sessions"), default=0)
    total_energy_kwh = models.DecimalField(
        _("total energy (kWh)"), max_digits=16, decimal_places=3, default=Decimal("0")
    )
    total_duration_seconds = models.BigIntegerField(_("total duration (s)"), default=0)
    vat_summary = models.JSONField(
        _("VAT summary"), default=list, help_text=_("Net and VAT per rate, as strings.")
    )
    # Amounts carry their currency's minor units (kernel/money.py): 3 places hold BHD and KWD.
    total_net = AmountField(_("total excl. VAT"))
    total_vat = AmountField(_("VAT"))
    total_gross = AmountField(_("total incl. VAT"))
    card_payment = models.JSONField(
        _("card payment"),
        default=dict,
        db_default={},
        blank=True,
        help_text=_(
            "The card-terminal payment a receipt was issued for, frozen when it was issued "
            "(brand, last 4 digits, authorization code, terminal, time, amount, session)."
        ),
    )
    supply_currency_vat = models.JSONField(
        _("VAT in the supply country's currency"),
        default=list,
        db_default=[],
        blank=True,
        help_text=_(
            "When the document's currency differs from the supply country's: the VAT in that "
            "currency, with the exchange rate, its date and source, as printed (Art. 230)."
        ),
    )
    amount_paid = AmountField(_("amount paid"), default=Decimal("0"))
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A pro forma is withdrawn, not credited: who, when and why.
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("withdrawn by"),
    )
    # Database defaults: bulk writers (COPY) that predate withdrawal need not name these.
    withdrawn_by_name = models.CharField(
        _("withdrawn by"), max_length=150, blank=True, db_default=""
    )
    withdrawal_reason = models.TextField(_("reason for withdrawal"), blank=True, db_default="")

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "number"], name="document_number_unique_in_series"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=DocumentStatus.DRAFT, number__isnull=True, series__isnull=True)
                    | (
                        ~Q(status=DocumentStatus.DRAFT)
                        & Q(number__isnull=False, series__isnull=False)
                    )
                ),
                name="document_numbered_iff_issued",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=DocumentKind.CREDIT_NOTE, credited_document__isnull=False)
                    | (~Q(kind=DocumentKind.CREDIT_NOTE) & Q(credited_document__isnull=True))
                ),
                name="credit_note_references_its_original",
            ),
            models.UniqueConstraint(
                fields=["credited_document"],
                condition=Q(credited_document__isnull=False),
                name="document_credited_at_most_once",
            ),
            models.CheckConstraint(
                # Rounded so that SQLite, which adds decimals as floats, agrees with PostgreSQL.
                condition=Q(total_gross=Round(models.F("total_net") + models.F("total_vat"), 3)),
                name="document_gross_is_net_plus_vat",
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=models.F("issue_date")),
                name="document_due_on_or_after_issue",
            ),
        ]
        indexes = [
            models.Index(fields=["operator", "issue_date"]),
            models.Index(fields=["customer", "issue_date"]),
            models.Index(fields=["status", "due_date"]),
            # The admin list at a million documents (docs/operations.md, "Admin lists at
            # scale"): its order, its status and country filters, and its search.
            models.Index(fields=["-issue_date", "-id"], name="document_list_order"),
            models.Index(fields=["status", "-issue_date", "-id"], name="document_list_status"),
            models.Index(
                fields=["recipient_country", "-issue_date", "-id"], name="document_list_country"
            ),
            models.Index(fields=["recipient_vat_id"], name="document_vat_id"),
            CaseInsensitivePrefixIndex(field="recipient_name", name="document_name_prefix"),
            CaseInsensitivePrefixIndex(field="recipient_email", name="document_email_prefix"),
            # A surname anywhere in the name (PostgreSQL; built concurrently).
            UpperTrigramIndex(field="recipient_name", name="document_name_trigram"),
        ]

    def __str__(self) -> str:
        return self.display_number or f"{self.get_kind_display()} draft #{self.pk}"

    def save(self, *args, **kwargs):
        # The services change issued documents through queryset updates of the fields the law
        # allows (status, payments, recipient details); PostgreSQL triggers refuse the rest.
        if self.pk and self.is_issued:
            raise IssuedDocumentError(f"{self} is issued and cannot be changed; credit it instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_issued:
            raise IssuedDocumentError(f"{self} is issued and cannot be deleted; credit it instead.")
        return super().delete(*args, **kwargs)

    @property
    def is_issued(self) -> bool:
        return self.status != DocumentStatus.DRAFT

    @property
    def outstanding(self) -> Decimal:
        return self.total_gross - self.amount_paid


class DocumentLine(models.Model):
    """A row of a document's services table; per-session rows point at their session."""

    class Service(models.TextChoices):
        ENERGY = "energy", _("Energy")
        CHARGING_TIME = "charging_time", _("Charging time")
        PARKING_TIME = "parking_time", _("Idle (parking) time")
        CONNECTION_FEE = "connection_fee", _("Connection fee")
        PRICE_ADJUSTMENT = "price_adjustment", _("Minimum/maximum price adjustment")
        CHARGING_SERVICES = "charging_services", _("Charging services")
        SUBSCRIPTION_FEE = "subscription_fee", _("Subscription fee")
        PLAN_ENERGY_PRICE = "plan_energy_price", _("Plan energy price")
        INCLUDED_ENERGY = "included_energy", _("Included energy")
        ROUNDING = "rounding", _("Rounding to cents per session")

    class Unit(models.TextChoices):
        KWH = "kWh", _("kWh")
        MINUTE = "minute", _("minute")
        PACKAGE = "package", _("package")
        MONTH = "month", _("month")

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(_("position"))
    service = models.CharField(_("service"), max_length=20, choices=Service.choices)
    description = models.CharField(_("description"), max_length=200)
    session = models.ForeignKey(
        "charging.ChargingSession",
        on_delete=models.PROTECT,
        related_name="document_lines",
        null=True,
        blank=True,
    )
    quantity = models.DecimalField(_("quantity"), max_digits=16, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=10, choices=Unit.choices)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=6)
    net = AmountField(_("net"))
    vat_category = models.CharField(_("VAT category"), max_length=12)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    vat_note = models.CharField(
        _("VAT note"),
        max_length=300,
        blank=True,
        default="",
        db_default="",
        help_text=_("Why the line carries no VAT (reverse charge, exemption), as printed."),
    )

    class Meta:
        ordering = ["document", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "position"], name="document_line_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description} {self.quantity} {self.unit}"


class BilledSession(models.Model):
    """Links a session to the document that bills (or credits) it: billed at most once per kind."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="billed_sessions")
    session = models.ForeignKey(
        "charging.ChargingSession", on_delete=models.PROTECT, related_name="billings"
    )
    document_kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    is_reversed = models.BooleanField(
        _("reversed"),
        default=False,
        help_text=_("Set when a credit note cancels the document; the session may be billed anew."),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "document_kind"],
                condition=Q(is_reversed=False) & ~Q(document_kind=DocumentKind.CREDIT_NOTE),
                name="session_billed_at_most_once_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} on document {self.document_id}"


class HeldSession(models.Model):
    """A session billed per session whose document could not be issued: why, and which rules
    its e-invoice broke; updated at each try, gone once the document is issued."""

    session = models.OneToOneField(
        "charging.ChargingSession", on_delete=models.CASCADE, related_name="held_document"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="held_sessions"
    )
    message = models.TextField(_("why it is held"))
    failed_rules = models.JSONField(
        _("failed rules"),
        default=list,
        blank=True,
        help_text=_("The e-invoice rules (XSD, BR-…) the document broke, if any."),
    )
    held_at = models.DateTimeField(_("last tried"), auto_now=True)

    class Meta:
        ordering = ["-held_at", "-id"]
        verbose_name = _("held per-session document")
        verbose_name_plural = _("held per-session documents")

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.message}"


class RecipientCorrection(models.Model):
    """A recorded change of an issued document's recipient details: who, when, old, new, why."""

    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="recipient_corrections"
    )
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    corrected_by_name = models.CharField(_("corrected by"), max_length=150)
    corrected_at = models.DateTimeField(_("corrected at"), auto_now_add=True)
    reason = models.TextField(_("reason"))
    old_values = models.JSONField(_("old values"))
    new_values = models.JSONField(_("new values"))

    class Meta:
        ordering = ["document", "corrected_at", "id"]

    def __str__(self) -> str:
        return f"Correction of {self.document} by {self.corrected_by_name}"
