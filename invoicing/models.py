"""Operator and settings; numbering series, documents, billing runs and payments."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.ddl_references import Statement, Table
from django.db.models import Q
from django.db.models.functions import Round, Upper
from django.utils.translation import gettext_lazy as _
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as NotAVatId

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
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Europe/Berlin",
        help_text=_("IANA name. Decides issue dates and where a billing month starts and ends."),
    )
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


class IssuedDocumentError(Exception):
    """An issued document, its lines or its number were about to be changed or deleted."""


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    PRO_FORMA = "pro_forma", _("Pro forma invoice")
    SALES_RECEIPT = "sales_receipt", _("Sales receipt")
    CREDIT_NOTE = "credit_note", _("Credit note")


BILLING_KINDS = (DocumentKind.INVOICE, DocumentKind.PRO_FORMA, DocumentKind.SALES_RECEIPT)
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

    class Meta:
        verbose_name = _("numbering series")
        verbose_name_plural = _("numbering series")
        ordering = ["operator", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "kind"], name="one_series_per_kind"),
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


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ISSUED = "issued", _("Issued")
    PAID = "paid", _("Paid")
    OVERDUE = "overdue", _("Overdue")
    CREDITED = "credited", _("Credited")


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


class CaseInsensitivePrefixIndex(models.Index):
    """An index on UPPER(field) for `istartswith` (and `iexact`) lookups of the admin search.

    PostgreSQL needs the text_pattern_ops operator class for LIKE 'ABC%' to use an index under
    a non-C collation; other databases (SQLite in development) get a plain expression index.
    """

    def __init__(self, *, field: str, name: str):
        self.field_name = field
        super().__init__(Upper(field), name=name)

    def deconstruct(self):
        path, _expressions, _kwargs = super().deconstruct()
        return path, (), {"field": self.field_name, "name": self.name}

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        # Written out: django.contrib.postgres's OpClass() needs that app installed.
        quote = schema_editor.quote_name
        return Statement(
            "CREATE INDEX %(name)s ON %(table)s ((UPPER(%(column)s)) text_pattern_ops)",
            name=quote(self.name),
            table=Table(model._meta.db_table, quote),
            column=quote(model._meta.get_field(self.field_name).column),
        )


class DocumentQuerySet(models.QuerySet):
    def search(self, term: str) -> DocumentQuerySet:
        """Documents whose number, recipient name or e-mail starts with the term (any case), or
        whose recipient VAT ID is the term; each alternative is an index scan."""
        term = term.strip()
        if not term:
            return self
        found = Q()
        for number in {term, term.upper()}:
            found |= Q(display_number__startswith=number)
        found |= Q(recipient_name__istartswith=term) | Q(recipient_email__istartswith=term)
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
    session_count = models.PositiveIntegerField(_("sessions"), default=0)
    total_energy_kwh = models.DecimalField(
        _("total energy (kWh)"), max_digits=16, decimal_places=3, default=Decimal("0")
    )
    total_duration_seconds = models.BigIntegerField(_("total duration (s)"), default=0)
    vat_summary = models.JSONField(
        _("VAT summary"), default=list, help_text=_("Net and VAT per rate, as strings.")
    )
    total_net = models.DecimalField(_("total excl. VAT"), max_digits=14, decimal_places=2)
    total_vat = models.DecimalField(_("VAT"), max_digits=14, decimal_places=2)
    total_gross = models.DecimalField(_("total incl. VAT"), max_digits=14, decimal_places=2)
    amount_paid = models.DecimalField(
        _("amount paid"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

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
                condition=Q(total_gross=Round(models.F("total_net") + models.F("total_vat"), 2)),
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
    net = models.DecimalField(_("net"), max_digits=14, decimal_places=2)
    vat_category = models.CharField(_("VAT category"), max_length=12)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)

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


class Payment(models.Model):
    """Money received against a document; the document is paid once payments cover it."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        DIRECT_DEBIT = "direct_debit", _("Direct debit")
        CARD = "card", _("Card")
        CASH = "cash", _("Cash")
        OTHER = "other", _("Other")

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    paid_on = models.DateField(_("paid on"))
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.paid_on}"


class BillingRun(models.Model):
    """Monthly billing of one closed period for an operator; re-running it bills nothing twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        COMPLETED_WITH_ERRORS = "completed_with_errors", _("Completed with errors")

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="billing_runs")
    period = models.DateField(_("period"), help_text=_("First day of the billed month."))
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    customers_total = models.PositiveIntegerField(_("customers to bill"), default=0)
    customers_billed = models.PositiveIntegerField(_("customers billed"), default=0)
    customers_failed = models.PositiveIntegerField(_("customers failed"), default=0)
    documents_issued = models.PositiveIntegerField(_("documents issued"), default=0)
    sessions_billed = models.PositiveIntegerField(_("sessions billed"), default=0)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "period"], name="one_run_per_period"),
        ]

    def __str__(self) -> str:
        return f"Billing run {self.period:%Y-%m} ({self.operator})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class BillingRunChunk(models.Model):
    """A slice of a run's customers billed in one transaction; done exactly once."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="chunks")
    attempt = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    customer_ids = models.JSONField()
    is_done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "attempt", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "attempt", "index"], name="chunk_unique_in_attempt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} attempt {self.attempt} chunk {self.index}"


class BillingRunError(models.Model):
    """Why one customer could not be billed in a run (the rest of the run goes on)."""

    run = models.ForeignKey(BillingRun, on_delete=models.CASCADE, related_name="errors")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="billing_errors"
    )
    message = models.TextField(_("error"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "customer"]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="one_error_per_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.customer}: {self.message}"


# --- rendered PDFs and their delivery --------------------------------------------------------


def document_file_path(instance: DocumentFile, filename: str) -> str:
    """Where a rendered PDF is stored: by operator and issue month, named by number and revision."""
    document = instance.document
    number = "".join(c if c.isalnum() or c in "-_" else "_" for c in document.display_number)
    return (
        f"documents/{document.operator_id}/{document.issue_date:%Y/%m}/"
        f"{number or document.pk}-r{instance.revision}.pdf"
    )


class DocumentFile(models.Model):
    """A rendered PDF of an issued document and its SHA-256; a row per revision, none replaced."""

    class Reason(models.TextChoices):
        ISSUED = "issued", _("Issued")
        RECIPIENT_CORRECTED = "recipient_corrected", _("Recipient details corrected")
        RERENDERED = "rerendered", _("Re-rendered by staff")

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="files")
    revision = models.PositiveIntegerField(_("revision"))
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices)
    correction = models.ForeignKey(
        RecipientCorrection,
        on_delete=models.PROTECT,
        related_name="files",
        null=True,
        blank=True,
        verbose_name=_("recipient correction"),
    )
    file = models.FileField(_("PDF"), upload_to=document_file_path, max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    rendered_at = models.DateTimeField(_("rendered at"), auto_now_add=True)
    rendered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        verbose_name = _("document PDF")
        verbose_name_plural = _("document PDFs")
        ordering = ["document", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "revision"], name="document_file_revision_unique"
            ),
            models.UniqueConstraint(
                fields=["document"],
                condition=Q(reason="issued"),
                name="document_file_issued_once",
            ),
            models.UniqueConstraint(
                fields=["correction"],
                condition=Q(correction__isnull=False),
                name="document_file_once_per_correction",
            ),
            models.CheckConstraint(condition=Q(revision__gte=1), name="document_file_revision_1"),
        ]

    def __str__(self) -> str:
        return f"{self.document} r{self.revision}"


class RenderFailure(models.Model):
    """Why a document's PDF could not be rendered (a broken logo, a missing font), for staff."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="render_failures")
    reason = models.CharField(_("reason"), max_length=24, choices=DocumentFile.Reason.choices)
    error = models.TextField(_("error"))
    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True)

    class Meta:
        ordering = ["document", "-occurred_at"]

    def __str__(self) -> str:
        return f"{self.document}: {self.error[:60]}"


class EmailDelivery(models.Model):
    """One e-mail of a document's PDF: queued, sent at most once, or failed with the reason."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="email_deliveries"
    )
    document_file = models.ForeignKey(
        DocumentFile, on_delete=models.PROTECT, related_name="email_deliveries"
    )
    recipient = models.EmailField(_("recipient"))
    language = models.CharField(_("language"), max_length=8)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    is_resend = models.BooleanField(_("re-sent by staff"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    queued_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    claimed_at = models.DateTimeField(_("attempt started at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail delivery")
        verbose_name_plural = _("e-mail deliveries")
        ordering = ["document", "-queued_at", "-id"]
        constraints = [
            # The automatic e-mail of a revision exists once, so a task running twice sends once.
            models.UniqueConstraint(
                fields=["document_file"],
                condition=Q(is_resend=False),
                name="one_automatic_email_per_file",
            ),
            models.CheckConstraint(
                condition=(Q(status="sent") & Q(sent_at__isnull=False))
                | (~Q(status="sent") & Q(sent_at__isnull=True)),
                name="email_sent_iff_sent_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document} to {self.recipient} ({self.get_status_display()})"


# --- exports for accountants (invoicing/exports.py) ------------------------------------------


def export_file_path(instance: ExportJob, filename: str) -> str:
    """Where a finished export is stored: by month of the request, prefixed with the job id."""
    return f"exports/{instance.created_at:%Y/%m}/{instance.pk}-{filename}"


class ExportJob(models.Model):
    """An export too large to stream in the request: a worker writes it to storage."""

    class What(models.TextChoices):
        INVOICES = "invoices", _("Invoices")
        LINES = "lines", _("Invoice lines")
        SESSIONS = "sessions", _("Sessions with breakdown")
        CUSTOMERS = "customers", _("Customers")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("requested by"),
    )
    what = models.CharField(_("export"), max_length=12, choices=What.choices)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    filters = models.JSONField(
        _("filters"),
        default=dict,
        blank=True,
        help_text=_("The admin list's filters and the selected rows the export was asked for."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    rows_total = models.PositiveIntegerField(_("rows expected"), null=True, blank=True)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to=export_file_path, max_length=255, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        # Every export (streamed or queued, admin or API) is guarded by this one permission.
        permissions = [("export_data", "Can export data")]

    def __str__(self) -> str:
        return f"{self.get_what_display()} ({self.get_format_display()}) #{self.pk}"


# --- the integrator API: keys, idempotency, webhooks (invoicing/integrations.py, webhooks.py) --


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


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: "whsec_" and 32 random bytes in base64."""
    import base64
    import secrets

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
