"""Customers and charging tokens as integrators read and write them."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from customers.models import INVOICE_DETAIL_FIELDS, ChargingToken, Customer
from customers.services import create_customer, invoice_detail_errors, update_customer
from invoicing.documents.composition import recipient_field_errors
from invoicing.models import DocumentKind, InvoicingSettings

# The anonymous customer exists once per operator and is made by the ingest, never by hand;
# the subscription mode is set by selling a plan (admin), not by editing the customer.
WRITABLE_KINDS = (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY, Customer.Kind.AD_HOC)
WRITABLE_BILLING_MODES = (
    Customer.BillingMode.OPERATOR_DEFAULT,
    Customer.BillingMode.PER_SESSION,
    Customer.BillingMode.MONTHLY,
)


def _choices(enum, values) -> list[tuple[str, str]]:
    return [(value, enum(value).label) for value in values]


WRITABLE_KIND_CHOICES = _choices(Customer.Kind, WRITABLE_KINDS)
WRITABLE_BILLING_MODE_CHOICES = _choices(Customer.BillingMode, WRITABLE_BILLING_MODES)


class WritableChoiceField(serializers.ChoiceField):
    """Accepts the writable choices; reads any of `read_choices` (e.g. kind anonymous)."""

    def __init__(self, *, read_choices, **kwargs):
        self.read_choices = read_choices
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value


class WritableChoiceFieldExtension(OpenApiSerializerFieldExtension):
    """The schema says so: requests list the writable choices, responses every readable one."""

    target_class = WritableChoiceField

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        read = serializers.ChoiceField(
            choices=self.target.read_choices, allow_blank=self.target.allow_blank
        )
        return auto_schema._map_serializer_field(read, direction, bypass_extensions=True)


class TokenBriefSerializer(serializers.ModelSerializer):
    """A token as listed on its customer."""

    id = serializers.IntegerField(read_only=True, help_text="The token's id in this API.")
    kind = serializers.ChoiceField(
        choices=ChargingToken.Kind.choices, help_text="RFID card, app account or contract ID."
    )
    uid = serializers.CharField(help_text="The card UID, app account or eMAID.")
    is_blocked = serializers.BooleanField(help_text="Blocked tokens may not charge.")

    class Meta:
        model = ChargingToken
        fields = ["id", "kind", "uid", "is_blocked"]


class CustomerSerializer(serializers.ModelSerializer):
    """A customer with invoice details, checked by the operator's rules (as in admin and portal)."""

    id = serializers.IntegerField(read_only=True, help_text="The customer's id in this API.")
    kind = WritableChoiceField(
        choices=WRITABLE_KIND_CHOICES,
        read_choices=Customer.Kind.choices,
        help_text="individual or company (their mandatory invoice details follow the "
        "operator's settings), or ad_hoc (a driver who left only an e-mail, erased after 30 "
        "days). The operator's anonymous customer is read-only (kind anonymous).",
    )
    name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Full name as printed on invoices (for companies an optional contact).",
    )
    company_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Legal name of a company as printed on invoices.",
    )
    company_registration_id = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        help_text="Commercial register number, e.g. HRB 12345 B.",
    )
    vat_id = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="EU VAT ID with country prefix, checked with its checksum; stored without "
        "spaces or dots, e.g. DE136695976.",
    )
    street = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Street and number."
    )
    postal_code = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="Postal code."
    )
    city = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="City."
    )
    country = serializers.CharField(
        max_length=10,
        required=False,
        allow_blank=True,
        help_text="ISO 3166-1 alpha-2 country code, e.g. DE.",
    )
    # A plain string: the shared validation words the e-mail error, as in admin and portal.
    email = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="Where invoices, receipts and reminders are sent.",
    )
    mobile_phone = serializers.CharField(
        max_length=30,
        required=False,
        allow_blank=True,
        help_text="Mobile number for text messages; stored in E.164 (+4915123456789). Without "
        "a country code it is read as one of the customer's country (or else the operator's).",
    )
    language = serializers.ChoiceField(
        choices=Customer._meta.get_field("language").choices,
        required=False,
        allow_blank=True,
        help_text="Language of documents and e-mails; empty: the operator's default.",
    )
    requires_invoice = serializers.BooleanField(
        required=False,
        help_text="The customer asked for full invoices with these details (else receipts, "
        "if the operator always issues them).",
    )
    billing_mode = WritableChoiceField(
        choices=WRITABLE_BILLING_MODE_CHOICES,
        read_choices=Customer.BillingMode.choices,
        required=False,
        allow_blank=True,
        help_text="Empty: the operator's issuing schedule; per_session or monthly override it. "
        "Customers on a subscription read subscription (set by selling a plan).",
    )
    tokens = TokenBriefSerializer(
        many=True, read_only=True, help_text="The customer's charging tokens."
    )
    invoice_detail_errors = serializers.SerializerMethodField(
        help_text="What is missing or invalid for a full invoice under the operator's current "
        "rules, one message per field; empty when the details are complete. For a customer "
        "who requires invoices this includes the name and full address every invoice needs: "
        "while it is not empty, invoices above 250 EUR are held (not issued)."
    )
    created_at = serializers.DateTimeField(read_only=True, help_text="When it was created.")
    updated_at = serializers.DateTimeField(read_only=True, help_text="When it last changed.")

    class Meta:
        model = Customer
        fields = [
            "id",
            "kind",
            *INVOICE_DETAIL_FIELDS,
            "mobile_phone",
            "language",
            "requires_invoice",
            "billing_mode",
            "tokens",
            "invoice_detail_errors",
            "created_at",
            "updated_at",
        ]
        # The model's constraints are checked in validate() with the API's own wording.
        validators = []

    def _settings(self) -> InvoicingSettings:
        return self.context["operator"].invoicing_settings

    def get_invoice_detail_errors(self, customer: Customer) -> dict[str, str]:
        if customer.kind == Customer.Kind.ANONYMOUS:
            return {}
        if customer.requires_invoice:
            # What holds its invoices: a name and full address always, the rest per settings.
            return recipient_field_errors(
                customer=customer, kind=DocumentKind.INVOICE, settings=self._settings()
            )
        details = {name: getattr(customer, name) for name in INVOICE_DETAIL_FIELDS}
        return invoice_detail_errors(kind=customer.kind, details=details, settings=self._settings())

    # The edit locks, the invoice-detail rules and the ad-hoc e-mail clock are the customer
    # services'; what they refuse is a 400 with one message per field (the API's error handler).
    def create(self, validated_data):
        return create_customer(operator=self.context["operator"], values=validated_data)

    def update(self, instance, validated_data):
        return update_customer(customer=instance, changes=validated_data)


class OperatorCustomerField(serializers.PrimaryKeyRelatedField):
    """A customer id, looked up among the key's operator's customers only."""

    def get_queryset(self):
        return Customer.objects.filter(operator=self.context["operator"])


class ChargingTokenSerializer(serializers.ModelSerializer):
    """A charging token: sessions naming it are billed to its customer."""

    id = serializers.IntegerField(read_only=True, help_text="The token's id in this API.")
    customer = OperatorCustomerField(help_text="Id of the customer the token belongs to.")
    kind = serializers.ChoiceField(
        choices=ChargingToken.Kind.choices,
        help_text="rfid (card UID), app (app account) or contract_id (eMAID).",
    )
    uid = serializers.CharField(
        max_length=64, help_text="The UID; unique per kind among the operator's tokens."
    )
    is_blocked = serializers.BooleanField(
        required=False, help_text="Blocked tokens are refused when the CPMS asks to charge."
    )
    blocked_reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Why the token is blocked, as told to the driver.",
    )
    created_at = serializers.DateTimeField(read_only=True, help_text="When it was created.")

    class Meta:
        model = ChargingToken
        fields = ["id", "customer", "kind", "uid", "is_blocked", "blocked_reason", "created_at"]
        validators = []

    def validate_uid(self, value: str) -> str:
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        uid = attrs.get("uid", getattr(self.instance, "uid", None))
        # Other operators' tokens are neither a clash nor revealed by one.
        clash = ChargingToken.objects.filter(operator=self.context["operator"], kind=kind, uid=uid)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(
                {"uid": ["A token of this kind with this UID exists."]}
            )
        return attrs
