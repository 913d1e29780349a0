"""Documents (invoices, pro formas, receipts, credit notes), payments and billing runs."""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from cpo_portal.kernel.api.lists import CompiledListSerializer
from cpo_portal.kernel.money import money_text
from cpo_portal.kernel.periods import today_for
from invoicing.models import (
    BillingRun,
    BillingRunError,
    Document,
    DocumentKind,
    DocumentLine,
    DocumentStatus,
    Payment,
)
from invoicing.payments.recording import payment_date_error
from sessions.representations import ChargeLineSerializer

# An id no document has, replaced by each document's id in the PDF URL.
PDF_URL_PLACEHOLDER = 987654321987654321


def _money(help_text: str, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, help_text=help_text, **kwargs)


class CurrencyAmountField(serializers.DecimalField):
    """An amount of a document (or its line) with exactly its currency's minor units:
    "1250" in JPY, "12.50" in EUR, "1.250" in BHD."""

    def __init__(self, attribute: str, help_text: str, *, of_line: bool = False):
        self.attribute, self.of_line = attribute, of_line
        super().__init__(
            max_digits=15, decimal_places=3, source="*", read_only=True, help_text=help_text
        )

    def to_representation(self, value):
        document = value.document if self.of_line else value
        return money_text(getattr(value, self.attribute), document.currency)


def _stored_amount(help_text: str) -> serializers.DecimalField:
    # The VAT summary stores amounts already in the currency's minor units; written as stored.
    return serializers.DecimalField(max_digits=None, decimal_places=None, help_text=help_text)


class VatRowSerializer(serializers.Serializer):
    """Net, VAT and gross of one VAT rate (VAT computed on the sum of the nets)."""

    rate = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="VAT rate, %.")
    net = _stored_amount("Sum of the net line amounts at this rate.")
    vat = _stored_amount("VAT at this rate, rounded half up.")
    gross = _stored_amount("net + VAT.")
    note = serializers.CharField(
        required=False,
        help_text="Why this row carries no VAT (reverse charge, exemption), as printed; "
        "absent when the row charges VAT.",
    )


class StatedVatRowSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="VAT rate, %.")
    vat = _stored_amount("The VAT at this rate, in the supply country's currency.")


class SupplyCurrencyVatSerializer(serializers.Serializer):
    """The VAT restated in a supply country's own currency (Art. 230 Directive 2006/112/EC)."""

    currency = serializers.CharField(help_text="The supply country's currency, ISO 4217.")
    rate = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        help_text="Units of this currency per 1 unit of the document's currency.",
    )
    rate_date = serializers.DateField(help_text="The date of the exchange rate.")
    source = serializers.CharField(help_text="Where the rate comes from, e.g. ECB reference rate.")
    rows = StatedVatRowSerializer(many=True, help_text="VAT per rate in this currency.")
    total_vat = _stored_amount("The document's VAT in this currency.")


class RecipientSerializer(serializers.Serializer):
    """The recipient as frozen on the document at issue (or corrected since, with a record)."""

    name = serializers.CharField(source="recipient_name", help_text="Name or company name.")
    company_registration_id = serializers.CharField(
        source="recipient_company_registration_id", help_text="Commercial register number."
    )
    vat_id = serializers.CharField(source="recipient_vat_id", help_text="VAT ID.")
    street = serializers.CharField(source="recipient_street", help_text="Street and number.")
    postal_code = serializers.CharField(source="recipient_postal_code", help_text="Postal code.")
    city = serializers.CharField(source="recipient_city", help_text="City.")
    country = serializers.CharField(source="recipient_country", help_text="ISO 3166-1 alpha-2.")
    email = serializers.CharField(source="recipient_email", help_text="E-mail address.")


class InvoiceSerializer(serializers.ModelSerializer):
    """A document as listed: number, status, dates, totals and the VAT summary."""

    id = serializers.IntegerField(help_text="The document's id in this API.")
    number = serializers.CharField(source="display_number", help_text="e.g. INV-000042.")
    kind = serializers.ChoiceField(
        choices=DocumentKind.choices,
        help_text="invoice, pro_forma, sales_receipt or credit_note.",
    )
    status = serializers.ChoiceField(
        choices=DocumentStatus.choices,
        help_text="issued, paid, overdue, credited or withdrawn (a pro forma).",
    )
    origin = serializers.CharField(
        help_text="per_session, monthly, subscription or correction (credit notes, reissues)."
    )
    customer = serializers.IntegerField(source="customer_id", help_text="The customer's id.")
    recipient = RecipientSerializer(source="*", help_text="Recipient details on the document.")
    issue_date = serializers.DateField(help_text="Issue date (operator's time zone).")
    due_date = serializers.DateField(help_text="Payment due date.")
    period_start = serializers.DateField(help_text="First day of the service period.")
    period_end = serializers.DateField(help_text="Last day of the service period.")
    currency = serializers.CharField(help_text="ISO 4217 currency.")
    total_net = CurrencyAmountField("total_net", "Total excl. VAT.")
    total_vat = CurrencyAmountField("total_vat", "Total VAT.")
    total_gross = CurrencyAmountField("total_gross", "Total incl. VAT.")
    amount_paid = CurrencyAmountField("amount_paid", "Sum of the payments recorded.")
    outstanding = CurrencyAmountField(
        "outstanding", "Still to pay: total incl. VAT minus payments."
    )
    paid_on = serializers.DateField(allow_null=True, help_text="When it was paid in full.")
    vat_summary = VatRowSerializer(many=True, help_text="Net, VAT and gross per VAT rate.")
    session_count = serializers.IntegerField(help_text="How many sessions it bills.")
    total_energy_kwh = serializers.DecimalField(
        max_digits=16, decimal_places=3, help_text="Energy of its sessions, kWh."
    )
    credited_document = serializers.IntegerField(
        source="credited_document_id",
        allow_null=True,
        help_text="For a credit note: the id of the document it cancels.",
    )
    credit_note = serializers.SerializerMethodField(
        help_text="For a credited document: the id of the credit note that cancels it."
    )
    issued_at = serializers.DateTimeField(allow_null=True, help_text="When it was issued.")
    pdf_url = serializers.SerializerMethodField(help_text="Where to download its PDF.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pdf_url: tuple[str, ...] | None = None

    class Meta:
        model = Document
        fields = [
            "id",
            "number",
            "kind",
            "status",
            "origin",
            "customer",
            "recipient",
            "issue_date",
            "due_date",
            "period_start",
            "period_end",
            "currency",
            "total_net",
            "total_vat",
            "total_gross",
            "amount_paid",
            "outstanding",
            "paid_on",
            "vat_summary",
            "session_count",
            "total_energy_kwh",
            "credited_document",
            "credit_note",
            "issued_at",
            "pdf_url",
        ]
        read_only_fields = fields
        list_serializer_class = CompiledListSerializer

    def get_credit_note(self, document: Document) -> int | None:
        # Annotated by the view's queryset: no query per row.
        return document.credit_note_id

    def get_pdf_url(self, document: Document) -> str:
        # One reverse() per page, not per row: it was a third of a 500-row page's time.
        if self._pdf_url is None:
            url = reverse(
                "api:invoice-pdf", args=[PDF_URL_PLACEHOLDER], request=self.context.get("request")
            )
            self._pdf_url = tuple(url.split(f"/{PDF_URL_PLACEHOLDER}/"))
        before, after = self._pdf_url
        return f"{before}/{document.pk}/{after}"


class DocumentLineSerializer(serializers.ModelSerializer):
    """A row of the services table."""

    position = serializers.IntegerField(help_text="Row number.")
    service = serializers.CharField(help_text="energy, charging_time, … or charging_services.")
    description = serializers.CharField(help_text="As printed.")
    session = serializers.IntegerField(
        source="session_id", allow_null=True, help_text="The session of a per-session row."
    )
    quantity = serializers.DecimalField(max_digits=16, decimal_places=3, help_text="Quantity.")
    unit = serializers.CharField(help_text="kWh, minute, package or month.")
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=6, help_text="Price per unit excl. VAT."
    )
    net = CurrencyAmountField("net", "Amount excl. VAT.", of_line=True)
    vat_category = serializers.CharField(help_text="electricity or services.")
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="VAT rate, %.")
    vat_note = serializers.CharField(
        help_text="The printed reason for a 0 % line (reverse charge, exemption), or empty."
    )

    class Meta:
        model = DocumentLine
        fields = [
            "position",
            "service",
            "description",
            "session",
            "quantity",
            "unit",
            "unit_price",
            "net",
            "vat_category",
            "vat_rate",
            "vat_note",
        ]


class InvoiceSessionSerializer(serializers.Serializer):
    """A session billed by the document, with its own priced breakdown."""

    id = serializers.IntegerField(source="session.id", help_text="The session's id.")
    source_id = serializers.CharField(source="session.source_id", help_text="Its source id.")
    evse_id = serializers.CharField(source="session.evse.evse_id", help_text="EVSE ID.")
    started_at = serializers.DateTimeField(source="session.started_at", help_text="Start.")
    ended_at = serializers.DateTimeField(
        source="session.ended_at", allow_null=True, help_text="End."
    )
    energy_kwh = serializers.DecimalField(
        source="session.energy_kwh", max_digits=12, decimal_places=3, help_text="Energy, kWh."
    )
    total_net = _money("The session's total excl. VAT.", source="session.total_net")
    total_vat = _money("The session's VAT.", source="session.total_vat")
    total_gross = _money("The session's total incl. VAT.", source="session.total_gross")
    breakdown = ChargeLineSerializer(
        source="session.charge_lines", many=True, help_text="One line per priced component."
    )


class PlainAmountField(serializers.DecimalField):
    """A positive amount written plainly: digits, at most 2 decimals; no exponent ("1e2")."""

    PLAIN = re.compile(r"\d{1,12}(\.\d{1,2})?")

    def to_internal_value(self, data):
        text = data.strip() if isinstance(data, str) else data
        if isinstance(text, bool) or not isinstance(text, str | int | Decimal):
            self.fail("invalid")
        if not self.PLAIN.fullmatch(str(text)):
            raise serializers.ValidationError(
                "Write the amount as a plain positive decimal with at most 2 decimals, "
                'e.g. "19.99".'
            )
        return super().to_internal_value(text)


class PaymentSerializer(serializers.ModelSerializer):
    """Money received against a document."""

    id = serializers.IntegerField(read_only=True, help_text="The payment's id.")
    invoice = serializers.IntegerField(
        source="document_id", read_only=True, help_text="The document paid."
    )
    amount = PlainAmountField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text='Amount received, a decimal string with at most 2 decimals, e.g. "19.99" '
        '(no exponent such as "1e2").',
    )
    paid_on = serializers.DateField(
        help_text="When the money was received: not in the future, at most 10 years ago."
    )
    method = serializers.ChoiceField(
        choices=Payment.Method.choices,
        help_text="bank_transfer, direct_debit, card, cash or other.",
    )
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your reference, e.g. the bank transaction or PSP id.",
    )
    created_at = serializers.DateTimeField(read_only=True, help_text="When it was recorded.")

    class Meta:
        model = Payment
        fields = ["id", "invoice", "amount", "paid_on", "method", "reference", "created_at"]

    def validate_paid_on(self, value):
        today = today_for(self.context["operator"]) if "operator" in self.context else None
        error = payment_date_error(paid_on=value, today=today or timezone.localdate())
        if error:
            raise serializers.ValidationError(error)
        return value


class InvoiceDetailSerializer(InvoiceSerializer):
    """A document with its lines, its sessions and their breakdown, and its payments."""

    reason = serializers.CharField(help_text="Why a credit note was issued (printed on it).")
    language = serializers.CharField(help_text="Language of the document.")
    delivery_country = serializers.CharField(help_text="Country of delivery, as printed.")
    billing_run = serializers.IntegerField(
        source="billing_run_id", allow_null=True, help_text="The monthly run that issued it."
    )
    supplier = serializers.JSONField(
        source="profile.supplier", help_text="The operator's details as printed at issue."
    )
    supplier_vat_id = serializers.CharField(
        help_text="The operator's VAT ID printed: its registration in the supply's country."
    )
    supply_currency_vat = SupplyCurrencyVatSerializer(
        many=True,
        help_text="When the supply country's currency differs from the document's: the VAT "
        "in that currency with the exchange rate, its date and source, as printed (Art. 230).",
    )
    lines = DocumentLineSerializer(many=True, help_text="The services table.")
    sessions = InvoiceSessionSerializer(
        source="billed_sessions",
        many=True,
        help_text="Every session billed, with its breakdown (also paginated at "
        "/sessions/?invoice=<id>).",
    )
    payments = PaymentSerializer(many=True, help_text="Payments recorded, oldest first.")
    withdrawal = serializers.SerializerMethodField(
        help_text="For a withdrawn pro forma: reason, by and at; else null."
    )

    class Meta(InvoiceSerializer.Meta):
        fields = [
            *InvoiceSerializer.Meta.fields,
            "reason",
            "withdrawal",
            "language",
            "delivery_country",
            "billing_run",
            "supplier",
            "supplier_vat_id",
            "supply_currency_vat",
            "lines",
            "sessions",
            "payments",
        ]
        read_only_fields = fields

    def get_withdrawal(self, document: Document) -> dict | None:
        if document.withdrawn_at is None:
            return None
        return {
            "reason": document.withdrawal_reason,
            "by": document.withdrawn_by_name,
            "at": document.withdrawn_at.isoformat(),
        }


class CreditNoteRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why the document is cancelled; printed on the credit note."
    )
    reissue = serializers.BooleanField(
        default=False,
        help_text="Also issue a replacement for the same sessions with today's customer "
        "details and settings.",
    )
    reprice = serializers.BooleanField(
        default=False,
        help_text="With reissue: price the sessions again under the tariff as it stands now "
        "and today's tax rules before the replacement is issued.",
    )


class WithdrawalRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why the pro forma invoice is withdrawn; recorded."
    )


class CreditNoteResultSerializer(serializers.Serializer):
    credit_note = InvoiceDetailSerializer(help_text="The credit note, with its own number.")
    replacement = InvoiceDetailSerializer(
        allow_null=True, help_text="The replacement document, when reissue was asked."
    )


class BillingRunSerializer(serializers.ModelSerializer):
    """A monthly billing run and how far it got."""

    id = serializers.IntegerField(read_only=True, help_text="The run's id.")
    period = serializers.SerializerMethodField(help_text="The billed month, YYYY-MM.")
    status = serializers.ChoiceField(
        choices=BillingRun.Status.choices,
        read_only=True,
        help_text="pending, running, completed or completed_with_errors.",
    )
    attempts = serializers.IntegerField(read_only=True, help_text="Times it was started.")
    customers_total = serializers.IntegerField(
        read_only=True, help_text="Customers to bill in the latest attempt."
    )
    customers_billed = serializers.IntegerField(
        read_only=True, help_text="Customers billed in the latest attempt."
    )
    customers_failed = serializers.IntegerField(
        read_only=True, help_text="Customers not billed in the latest attempt (see errors)."
    )
    documents_issued = serializers.IntegerField(
        read_only=True, help_text="Documents the latest attempt issued (earlier ones' stand)."
    )
    sessions_billed = serializers.IntegerField(
        read_only=True, help_text="Sessions the latest attempt billed."
    )
    chunks_total = serializers.IntegerField(read_only=True, help_text="Chunks planned.")
    chunks_done = serializers.IntegerField(read_only=True, help_text="Chunks done.")
    started_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Start of the latest attempt."
    )
    finished_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When it finished."
    )

    class Meta:
        model = BillingRun
        fields = [
            "id",
            "period",
            "status",
            "attempts",
            "customers_total",
            "customers_billed",
            "customers_failed",
            "documents_issued",
            "sessions_billed",
            "chunks_total",
            "chunks_done",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-10"})
    def get_period(self, run: BillingRun) -> str:
        return f"{run.period.year:04d}-{run.period.month:02d}"


class BillingRunRequestSerializer(serializers.Serializer):
    period = serializers.RegexField(
        r"^\d{4}-\d{2}$",
        max_length=7,
        help_text="The closed month to bill, YYYY-MM; starting a month again bills only what "
        "is still unbilled.",
    )

    def validate_period(self, value: str) -> str:
        if not 1970 <= int(value[:4]) <= 9998:
            raise serializers.ValidationError("Use a month between 1970-01 and 9998-12.")
        return value


class BillingRunErrorSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", help_text="The customer's id.")
    message = serializers.CharField(help_text="Why they were not billed.")
    created_at = serializers.DateTimeField(help_text="When it was recorded.")

    class Meta:
        model = BillingRunError
        fields = ["customer", "message", "created_at"]
