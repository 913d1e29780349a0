"""The payment ledger: every movement of money at a provider, and its allocations to documents."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.search import UpperTrigramIndex
from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.documents.models import AmountField, CaseInsensitivePrefixIndex, Document


class TransactionKind(models.TextChoices):
    AUTHORIZATION = "authorization", _("Authorization")
    CAPTURE = "capture", _("Card or wallet payment")
    REFUND = "refund", _("Refund")
    REVERSAL = "reversal", _("Authorization released")
    CHARGEBACK = "chargeback", _("Chargeback")
    DIRECT_DEBIT = "direct_debit", _("Direct-debit collection")
    DIRECT_DEBIT_RETURN = "direct_debit_return", _("Direct-debit return")
    BANK_TRANSFER = "bank_transfer", _("Incoming bank transfer")
    MANUAL = "manual", _("Recorded by staff")


# Money that comes in (positive in the ledger) and money that goes back out (negative).
INCOMING_KINDS = (
    TransactionKind.CAPTURE,
    TransactionKind.DIRECT_DEBIT,
    TransactionKind.BANK_TRANSFER,
    TransactionKind.MANUAL,
)
OUTGOING_KINDS = (
    TransactionKind.REFUND,
    TransactionKind.CHARGEBACK,
    TransactionKind.DIRECT_DEBIT_RETURN,
)


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    DIRECT_DEBIT = "direct_debit", _("Direct debit")
    CARD = "card", _("Card")
    CASH = "cash", _("Cash")
    OTHER = "other", _("Other")


# How the money of each kind of transaction was paid, unless the transaction says.
KIND_METHOD = {
    "authorization": PaymentMethod.CARD,
    "capture": PaymentMethod.CARD,
    "refund": PaymentMethod.OTHER,
    "reversal": PaymentMethod.CARD,
    "chargeback": PaymentMethod.CARD,
    "direct_debit": PaymentMethod.DIRECT_DEBIT,
    "direct_debit_return": PaymentMethod.DIRECT_DEBIT,
    "bank_transfer": PaymentMethod.BANK_TRANSFER,
    "manual": PaymentMethod.OTHER,
}


class TransactionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class PaymentTransaction(models.Model):
    """One movement of money at a payment provider, kept as the provider reported it."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        Customer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment_transactions",
        verbose_name=_("customer"),
    )
    provider = models.CharField(_("provider"), max_length=32)
    provider_reference = models.CharField(
        _("provider reference"),
        max_length=200,
        help_text=_("The provider's own id of the transaction (unique per provider)."),
    )
    kind = models.CharField(_("kind"), max_length=24, choices=TransactionKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=TransactionStatus.choices, db_index=True
    )
    amount = AmountField(_("amount"), help_text=_("Always positive; the kind says the direction."))
    currency = models.CharField(_("currency"), max_length=3)
    method = models.CharField(
        _("method"), max_length=16, choices=PaymentMethod.choices, blank=True, default=""
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("original transaction"),
        help_text=_("The payment a refund, chargeback or return gives money back from."),
    )
    intended_document = models.ForeignKey(
        Document,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started for"),
        help_text=_("The document a checkout, collection or refund was started for."),
    )
    value_date = models.DateField(_("value date"))
    occurred_at = models.DateTimeField(_("occurred at"))
    payer_name = models.CharField(_("payer"), max_length=140, blank=True)
    payer_iban = models.CharField(_("payer IBAN"), max_length=34, blank=True)
    remittance_information = models.TextField(_("remittance information"), blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=300, blank=True)
    payload = models.TextField(
        _("provider payload"), blank=True, help_text=_("Exactly as the provider sent it.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("payment transaction")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                name="transaction_reference_unique_per_provider",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="transaction_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["operator", "-occurred_at"], name="transaction_operator_time"),
            models.Index(fields=["customer", "status"], name="transaction_customer_status"),
            # The ledger's admin list at a million rows: its order, filters and search.
            models.Index(fields=["-occurred_at", "-id"], name="transaction_list_order"),
            models.Index(fields=["kind", "-occurred_at", "-id"], name="transaction_list_kind"),
            models.Index(
                fields=["currency", "-occurred_at", "-id"], name="transaction_list_currency"
            ),
            models.Index(fields=["value_date"], name="transaction_value_date"),
            models.Index(fields=["provider_reference"], name="transaction_reference"),
            CaseInsensitivePrefixIndex(field="payer_name", name="transaction_payer_prefix"),
            # The reconciliation queue's search: any part of the payer's name or remittance.
            UpperTrigramIndex(field="payer_name", name="transaction_payer_trigram"),
            UpperTrigramIndex(
                field="remittance_information", name="transaction_remittance_trigram"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.provider})"

    @property
    def is_incoming(self) -> bool:
        return self.kind in INCOMING_KINDS

    @property
    def signed_amount(self):
        """Positive for money received, negative for money given back, zero for the rest."""
        if self.kind in INCOMING_KINDS:
            return self.amount
        if self.kind in OUTGOING_KINDS:
            return -self.amount
        return self.amount * 0

    @property
    def payment_method(self) -> str:
        return self.method or KIND_METHOD[self.kind]

    @property
    def allocation_reference(self) -> str:
        """What an allocation shows as its reference: what staff wrote, or the provider's id."""
        if self.kind == TransactionKind.MANUAL:
            return self.remittance_information[:100]
        return self.provider_reference[:100]

    @property
    def masked_payer_iban(self) -> str:
        return mask_iban(self.payer_iban)


def mask_iban(iban: str) -> str:
    """An IBAN as lists, logs and e-mails show it: country, check digits and the last four."""
    compact = "".join(iban.split())
    if len(compact) <= 8:
        return compact
    return f"{compact[:4]} •••• {compact[-4:]}"


class ProviderEvent(models.Model):
    """A provider notification already handled: delivered twice, it changes nothing twice."""

    provider = models.CharField(_("provider"), max_length=32)
    event_id = models.CharField(_("event id"), max_length=200)
    kind = models.CharField(_("event type"), max_length=100, blank=True)
    payload = models.TextField(_("payload"), blank=True, help_text=_("Exactly as received."))
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("provider notification")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="provider_event_handled_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id}"


class Payment(models.Model):
    """An allocation: part of a transaction applied to one document (negative when money
    goes back: a refund on a credit note, a returned direct debit, a chargeback)."""

    Method = PaymentMethod

    transaction = models.ForeignKey(
        PaymentTransaction,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("transaction"),
    )
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="payments")
    amount = AmountField(_("amount"))
    paid_on = models.DateField(_("paid on"))
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("allocation")
        ordering = ["document", "paid_on", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="allocation_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.paid_on}"


def statement_file_path(statement: BankStatement, filename: str) -> str:
    return f"bank-statements/{statement.operator_id}/{filename}"


class StatementStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Refused")


class BankStatement(models.Model):
    """A camt.053 statement or camt.054 notification as uploaded, and what its import did."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(_("file"), upload_to=statement_file_path, max_length=300)
    file_name = models.CharField(_("file name"), max_length=200)
    message_type = models.CharField(_("message"), max_length=40, blank=True)
    statement_id = models.CharField(_("statement id"), max_length=140, blank=True)
    account_iban = models.CharField(_("account IBAN"), max_length=34, blank=True)
    created_on = models.DateTimeField(_("created by the bank"), null=True, blank=True)
    from_date = models.DateField(_("from"), null=True, blank=True)
    to_date = models.DateField(_("to"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=StatementStatus.choices, default=StatementStatus.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    entries = models.PositiveIntegerField(_("entries read"), default=0)
    credits = models.PositiveIntegerField(_("credits"), default=0)
    returns = models.PositiveIntegerField(_("returns"), default=0)
    already_imported = models.PositiveIntegerField(_("already imported"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    partly_matched = models.PositiveIntegerField(_("partly matched"), default=0)
    to_review = models.PositiveIntegerField(_("to review"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("bank statement")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.statement_id or self.file_name


class MatchOutcome(models.TextChoices):
    MATCHED = "matched", _("Matched")
    PARTLY = "partly", _("Partly matched")
    REVIEW = "review", _("To review")
    CREDIT = "credit", _("Kept as customer credit")
    RETURN = "return", _("Direct-debit return")
    COLLECTION = "collection", _("Direct-debit collection booked")
    ASSIGNED = "assigned", _("Assigned by staff")


class StatementCredit(models.Model):
    """A transfer from a statement and how matching placed it; the review queue is those
    still `review`, with the reason and the invoices that came close."""

    statement = models.ForeignKey(
        BankStatement, on_delete=models.CASCADE, related_name="credits_read"
    )
    transaction = models.OneToOneField(
        PaymentTransaction, on_delete=models.PROTECT, related_name="statement_credit"
    )
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=MatchOutcome.choices, db_index=True
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    candidates = models.JSONField(
        _("suggested invoices"), default=list, blank=True, help_text=_("Document ids.")
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("statement transfer")
        ordering = ["-id"]

    def __str__(self) -> str:
        return str(self.transaction)


def validate_mandate_iban(value: str) -> None:
    """An account a SEPA mandate debits: an IBAN valid for its country's registry."""
    from schwifty import IBAN
    from schwifty.exceptions import SchwiftyException

    try:
        IBAN(value)
    except SchwiftyException as error:
        raise ValidationError(_("Enter a valid IBAN: %(reason)s") % {"reason": error}) from error


class SequenceType(models.TextChoices):
    FIRST = "FRST", _("First collection")
    RECURRING = "RCUR", _("Recurring collection")


class MandateStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    REVOKED = "revoked", _("Revoked")


class MandateSource(models.TextChoices):
    PORTAL = "portal", _("Given in the portal")
    STAFF = "staff", _("Entered by staff")


class SepaMandate(models.Model):
    """A customer's permission to collect invoices from one account by SEPA direct debit."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="sepa_mandates", verbose_name=_("customer")
    )
    iban = models.CharField(_("IBAN"), max_length=34, validators=[validate_mandate_iban])
    bic = models.CharField(
        _("BIC"), max_length=11, blank=True, help_text=_("Derived from the IBAN when left empty.")
    )
    account_holder = models.CharField(_("account holder"), max_length=70)
    reference = models.CharField(_("mandate reference"), max_length=35, editable=False)
    signed_on = models.DateField(_("date of signature"))
    sequence_type = models.CharField(
        _("next sequence type"),
        max_length=4,
        choices=SequenceType.choices,
        default=SequenceType.FIRST,
        help_text=_("FRST until a collection went through; again FRST after some returns."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=MandateStatus.choices, default=MandateStatus.ACTIVE
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    source = models.CharField(_("given"), max_length=8, choices=MandateSource.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("SEPA mandate")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "reference"], name="mandate_reference_unique_per_creditor"
            ),
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="active"),
                name="one_active_mandate_per_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.masked_iban})"

    @property
    def masked_iban(self) -> str:
        return mask_iban(self.iban)

    @property
    def iban_last_four(self) -> str:
        return "".join(self.iban.split())[-4:]


class CollectionRunState(models.TextChoices):
    QUEUED = "queued", _("Being written")
    WRITTEN = "written", _("File written")
    EMPTY = "empty", _("Nothing due")
    FAILED = "failed", _("Failed")


def collection_file_path(instance: CollectionRun, filename: str) -> str:
    """Where a pain.008 file is kept: by operator, named by collection date and run."""
    return (
        f"collections/{instance.operator_id}/{instance.collection_date:%Y-%m-%d}-{instance.pk}.xml"
    )


class CollectionRun(models.Model):
    """One pain.008 file collecting every invoice due by the collection date under its mandate."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    collection_date = models.DateField(_("collection date"))
    state = models.CharField(_("state"), max_length=8, choices=CollectionRunState.choices)
    collection_count = models.PositiveIntegerField(_("collections"), default=0)
    first_count = models.PositiveIntegerField(_("first collections (FRST)"), default=0)
    recurring_count = models.PositiveIntegerField(_("recurring collections (RCUR)"), default=0)
    total = AmountField(_("total"), default=0)
    due_count = models.PositiveIntegerField(
        _("due when started"), default=0, db_default=0, help_text=_("Invoices due for collection.")
    )
    error = models.TextField(_("why it failed"), blank=True, db_default="")
    file = models.FileField(
        _("pain.008 file"), upload_to=collection_file_path, max_length=255, blank=True
    )
    collections = models.ManyToManyField(
        PaymentTransaction, related_name="collection_runs", blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("direct-debit collection run")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.collection_date:%Y-%m-%d} ({self.collection_count})"
