"""Customers (who is billed), their invoice details and the tokens that identify them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.periods import validate_time_zone
from cpo_portal.kernel.search import UpperTrigramIndex

# The invoice details a customer keeps; operators choose which are mandatory.
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


class EInvoiceFormat(models.TextChoices):
    """The structured e-invoice (EN 16931) a business customer receives with each invoice."""

    NONE = "none", _("None (PDF only)")
    XRECHNUNG_CII = "xrechnung_cii", _("XRechnung (CII)")
    XRECHNUNG_UBL = "xrechnung_ubl", _("XRechnung (UBL)")
    FACTURX = "facturx", _("Factur-X / ZUGFeRD EN 16931 (PDF with XML)")


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
        SUBSCRIPTION = "subscription", _("On the subscription's renewal cycle")

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
    mobile_phone = models.CharField(
        _("mobile phone"),
        max_length=16,
        blank=True,
        default="",
        db_default="",
        help_text=_("Text messages go to this number, stored in E.164, e.g. +4915123456789."),
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text=_(
            "Text messages wait for the morning here, e.g. Europe/Athens; empty: the operator's."
        ),
    )
    requires_invoice = models.BooleanField(_("requires invoice"), default=False)
    billing_mode = models.CharField(
        _("billing mode"),
        max_length=12,
        choices=BillingMode.choices,
        blank=True,
        default=BillingMode.OPERATOR_DEFAULT,
    )
    einvoice_format = models.CharField(
        _("e-invoice format"),
        max_length=16,
        choices=EInvoiceFormat.choices,
        blank=True,
        default="",
        db_default="",
        help_text=_("Empty: the operator's default (business customers only)."),
    )
    buyer_reference = models.CharField(
        _("buyer reference (Leitweg-ID)"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text=_(
            "BT-10 of the e-invoice; public bodies give their Leitweg-ID. XRechnung needs it."
        ),
    )
    email_collected_at = models.DateTimeField(
        _("e-mail collected at"),
        null=True,
        blank=True,
        help_text=_("Ad-hoc e-mails are erased 30 days after this moment."),
    )
    # SET_NULL: closing a driver's sign-in must not touch the customer, whose issued documents
    # are kept for years (and protect it from deletion anyway).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer",
        verbose_name=_("portal account"),
        help_text=_("The driver's sign-in for the self-service portal (never a staff account)."),
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
        indexes = [
            models.Index(fields=["operator", "kind"]),
            # The admin search finds a surname anywhere (PostgreSQL; built concurrently).
            UpperTrigramIndex(field="name", name="customer_name_trigram"),
            UpperTrigramIndex(field="company_name", name="customer_company_trigram"),
            UpperTrigramIndex(field="email", name="customer_email_trigram"),
            UpperTrigramIndex(field="vat_id", name="customer_vat_id_trigram"),
        ]

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
    # The customer's operator, copied on save: UIDs are unique per operator, and a database
    # constraint cannot reach through the customer.
    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="+", editable=False
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    uid = models.CharField(_("token UID"), max_length=64)
    is_blocked = models.BooleanField(_("blocked"), default=False)
    blocked_reason = models.CharField(_("blocked reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "kind", "uid"],
                name="token_uid_unique_per_operator_and_kind",
                violation_error_message=_("A token of this kind with this UID exists."),
            ),
        ]

    # OCPI TokenType (cdr_token.type) -> the kind of token it names: both app types are app
    # accounts (AD_HOC_USER is a one-time one), OTHER is any other identification (eMAID).
    OCPI_TYPES = {
        "RFID": Kind.RFID,
        "APP_USER": Kind.APP,
        "AD_HOC_USER": Kind.APP,
        "OTHER": Kind.CONTRACT_ID,
    }

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.uid}"

    def save(self, *args, **kwargs):
        self.operator_id = self.customer.operator_id
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        # Forms leave out the (non-editable) operator: check uniqueness with the customer's
        # (in an admin inline the customer may be new, not saved yet).
        customer = (
            self.customer
            if self.customer_id is not None or ChargingToken.customer.is_cached(self)
            else None
        )
        if customer is not None and customer.operator_id is not None:
            self.operator_id = customer.operator_id
            exclude = set(exclude or ()) - {"operator"}
        super().validate_constraints(exclude=exclude)


class Plan(models.Model):
    """A post-paid plan: a periodic fee, and what it changes in the price of charging."""

    class Period(models.TextChoices):
        MONTHLY = "monthly", _("Monthly")
        QUARTERLY = "quarterly", _("Quarterly")
        YEARLY = "yearly", _("Yearly")

    class VatCategory(models.TextChoices):
        ELECTRICITY = "electricity", _("Electricity")
        SERVICES = "services", _("Services")

    MONTHS = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.YEARLY: 12}

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="plans"
    )
    name = models.CharField(_("name"), max_length=100)
    fee = models.DecimalField(
        _("fee per period (excl. VAT)"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    period = models.CharField(
        _("period"), max_length=10, choices=Period.choices, default=Period.MONTHLY
    )
    fee_vat_category = models.CharField(
        _("VAT category of the fee"),
        max_length=12,
        choices=VatCategory.choices,
        default=VatCategory.SERVICES,
        help_text=_("The fee is taxed at the operator's rate for this category."),
    )
    energy_price = models.DecimalField(
        _("energy price per kWh (excl. VAT)"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Subscribers pay this instead of the tariff's energy price. Empty: tariff."),
    )
    included_kwh = models.DecimalField(
        _("included energy per period (kWh)"),
        max_digits=10,
        decimal_places=3,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    grace_days = models.PositiveSmallIntegerField(
        _("payment grace period (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: the operator's grace period."),
    )
    reminder_days = models.PositiveSmallIntegerField(
        _("reminder before the due date (days)"), default=3
    )
    suspend_after_days = models.PositiveSmallIntegerField(
        _("suspend after overdue (days)"),
        default=14,
        help_text=_("Days after the due date before charging is blocked."),
    )
    is_active = models.BooleanField(
        _("on sale"), default=True, help_text=_("Retired plans keep their subscribers.")
    )

    class Meta:
        ordering = ["operator", "name"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "name"], name="plan_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fee} / {self.get_period_display().lower()})"

    @property
    def months(self) -> int:
        return self.MONTHS[self.period]


class Subscription(models.Model):
    """A customer's plan, billed post-paid at the end of each period."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Past due")
        SUSPENDED = "suspended", _("Suspended")
        CANCELLED = "cancelled", _("Cancelled")

    LIVE = (Status.ACTIVE, Status.PAST_DUE, Status.SUSPENDED)

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    start_date = models.DateField(_("start date"))
    current_period_start = models.DateField(_("current period from"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    cancel_at_period_end = models.BooleanField(_("cancel at the end of the period"), default=False)
    cancelled_on = models.DateField(_("cancelled on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=~Q(status="cancelled"),
                name="one_live_subscription_per_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} on {self.plan.name}"


class SubscriptionPeriod(models.Model):
    """One billed period of a subscription: invoiced once, reminded once, warned once."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="periods")
    start = models.DateField(_("from"))
    end = models.DateField(_("to"), help_text=_("Last day of the period."))
    document = models.OneToOneField(
        "invoicing.Document", on_delete=models.PROTECT, related_name="subscription_period"
    )
    reminder_sent_at = models.DateTimeField(_("reminder sent"), null=True, blank=True)
    overdue_notice_sent_at = models.DateTimeField(_("overdue notice sent"), null=True, blank=True)

    class Meta:
        ordering = ["subscription", "start"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "start"], name="subscription_period_billed_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.start} to {self.end}"


# The outbox's models live with their services; importing them here registers them with the app.
from customers.notifications.models import (  # noqa: E402
    MessageAttempt,
    MessageTemplate,
    NotificationPreference,
    OutboundMessage,
)

__all__ = [
    "ChargingToken",
    "Customer",
    "EInvoiceFormat",
    "MessageAttempt",
    "MessageTemplate",
    "NotificationPreference",
    "OutboundMessage",
    "Plan",
    "Subscription",
    "SubscriptionPeriod",
]
