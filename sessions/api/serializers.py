"""Sessions with their priced breakdown, OCPI tariffs and CDRs, as integrators see them.

The write shapes (native record, OCPI CDR, OCPI tariff) document the request bodies only: the
payloads go as received to the ingest and tariff services, which validate them (one rule, one
place) and answer with one message per field.
"""

from __future__ import annotations

from rest_framework import serializers

from cpo_portal.kernel.api.lists import CompiledListSerializer
from customers.models import INVOICE_DETAIL_FIELDS, Customer
from customers.services import invoice_detail_errors
from sessions.models import ChargingSession
from sessions.pricing.limits import MAX_BULK_ITEMS
from sessions.representations import ChargeLineSerializer

# --- reading ------------------------------------------------------------------------------------


class SessionCustomerSerializer(serializers.ModelSerializer):
    """Who the session is billed to, with the invoice details an external system needs."""

    id = serializers.IntegerField(help_text="The customer's id.")
    kind = serializers.CharField(help_text="individual, company, anonymous or ad_hoc.")
    name = serializers.CharField(help_text="Full name.")
    company_name = serializers.CharField(help_text="Company name.")
    company_registration_id = serializers.CharField(help_text="Commercial register number.")
    vat_id = serializers.CharField(help_text="VAT ID (compact).")
    street = serializers.CharField(help_text="Street and number.")
    postal_code = serializers.CharField(help_text="Postal code.")
    city = serializers.CharField(help_text="City.")
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2 country code.")
    email = serializers.CharField(help_text="E-mail address.")
    language = serializers.CharField(help_text="Language of documents; empty: the operator's.")
    requires_invoice = serializers.BooleanField(help_text="The customer asked for invoices.")
    invoice_detail_errors = serializers.SerializerMethodField(
        help_text="What is missing for a full invoice under the operator's rules; empty when "
        "complete."
    )

    class Meta:
        model = Customer
        fields = [
            "id",
            "kind",
            *INVOICE_DETAIL_FIELDS,
            "language",
            "requires_invoice",
            "invoice_detail_errors",
        ]

    def get_invoice_detail_errors(self, customer: Customer) -> dict[str, str]:
        if customer.kind == Customer.Kind.ANONYMOUS:
            return {}
        details = {name: getattr(customer, name) for name in INVOICE_DETAIL_FIELDS}
        settings = self.context["operator"].invoicing_settings
        return invoice_detail_errors(kind=customer.kind, details=details, settings=settings)


class SessionTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The token's id.")
    kind = serializers.CharField(help_text="rfid, app or contract_id.")
    uid = serializers.CharField(help_text="The token UID.")


class SessionLocationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The location's id (filter sessions with it).")
    name = serializers.CharField(help_text="Name of the charging site.")
    city = serializers.CharField(help_text="City.")
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2 country code.")
    time_zone = serializers.CharField(help_text="IANA time zone the tariff was applied in.")


class SessionDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="document.id", help_text="The document's id.")
    number = serializers.CharField(source="document.display_number", help_text="Its number.")
    kind = serializers.CharField(
        source="document.kind", help_text="invoice, pro_forma, sales_receipt or credit_note."
    )
    status = serializers.CharField(source="document.status", help_text="The document's status.")
    reversed = serializers.BooleanField(
        source="is_reversed", help_text="A credit note cancelled this billing."
    )


class SessionSerializer(serializers.ModelSerializer):
    """A charging session, priced, with the breakdown the documents are made of."""

    id = serializers.IntegerField(help_text="The session's id in this API.")
    source = serializers.CharField(help_text="The system that sent it (the integrator's source).")
    source_id = serializers.CharField(help_text="Its id in that system (unique per source).")
    payload_format = serializers.CharField(help_text="native or ocpi_cdr.")
    status = serializers.CharField(help_text="completed (or active).")
    customer = SessionCustomerSerializer(help_text="Who the session is billed to.")
    token = SessionTokenSerializer(
        allow_null=True, help_text="The charging token used, if one was named."
    )
    evse_id = serializers.CharField(source="evse.evse_id", help_text="The EVSE ID charged at.")
    location = SessionLocationSerializer(source="evse.location", help_text="The charging site.")
    tariff_id = serializers.CharField(
        source="tariff.ocpi_id", help_text="OCPI id of the tariff it was priced with."
    )
    started_at = serializers.DateTimeField(help_text="Start of the session.")
    ended_at = serializers.DateTimeField(allow_null=True, help_text="End of the session.")
    energy_kwh = serializers.DecimalField(
        max_digits=12, decimal_places=3, help_text="Energy charged in kWh."
    )
    charging_seconds = serializers.IntegerField(help_text="Time connected and charging.")
    idle_seconds = serializers.IntegerField(help_text="Time connected but not charging.")
    currency = serializers.CharField(help_text="ISO 4217 currency of the amounts.")
    total_net = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Total excl. VAT."
    )
    total_vat = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="VAT, per rate on the nets."
    )
    total_gross = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, help_text="Total incl. VAT."
    )
    priced_at = serializers.DateTimeField(allow_null=True, help_text="When it was priced.")
    received_at = serializers.DateTimeField(help_text="When it arrived.")
    invoiced = serializers.BooleanField(
        help_text="On a live invoice, pro forma or receipt (not credited)."
    )
    issuing_due = serializers.BooleanField(
        help_text="Due for a document: decided when it was stored (collect-only or no "
        "document then: false), or marked due since."
    )
    meter_verdict = serializers.ChoiceField(
        choices=ChargingSession.MeterVerdict.choices,
        help_text="Signed meter data: none, valid (verified) or invalid.",
    )
    quarantine = serializers.ChoiceField(
        choices=ChargingSession.Quarantine.choices,
        help_text="open: not priced, never billed until staff resolve it; written_off: never "
        "billed; empty: not quarantined (docs/metering.md).",
    )
    meter_issues = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why the signed data failed or the session is quarantined, and notes.",
    )
    documents = SessionDocumentSerializer(
        source="billings",
        many=True,
        help_text="Every document that billed (or credited) the session.",
    )
    breakdown = ChargeLineSerializer(
        source="charge_lines", many=True, help_text="One line per priced component."
    )

    class Meta:
        model = ChargingSession
        fields = [
            "id",
            "source",
            "source_id",
            "payload_format",
            "status",
            "customer",
            "token",
            "evse_id",
            "location",
            "tariff_id",
            "started_at",
            "ended_at",
            "energy_kwh",
            "charging_seconds",
            "idle_seconds",
            "currency",
            "total_net",
            "total_vat",
            "total_gross",
            "priced_at",
            "received_at",
            "invoiced",
            "issuing_due",
            "meter_verdict",
            "quarantine",
            "meter_issues",
            "documents",
            "breakdown",
        ]
        read_only_fields = fields
        list_serializer_class = CompiledListSerializer


# --- writing (request shapes) -------------------------------------------------------------------


class NativeSessionSerializer(serializers.Serializer):
    """A finished session as the CPMS records it (priced here against the named tariff)."""

    source_id = serializers.CharField(
        max_length=64, help_text="Your id of the session; sending it again changes nothing."
    )
    evse_id = serializers.CharField(max_length=48, help_text="EVSE ID of the charging point.")
    tariff_id = serializers.CharField(max_length=36, help_text="OCPI id of the operator's tariff.")
    start = serializers.DateTimeField(help_text="Start, ISO 8601 with a time-zone offset.")
    end = serializers.DateTimeField(help_text="End, ISO 8601 with a time-zone offset.")
    energy_kwh = serializers.DecimalField(
        max_digits=12,
        decimal_places=3,
        min_value=0,
        help_text="Energy charged, kWh (a decimal string or JSON number).",
    )
    idle_minutes = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="Minutes connected but not charging, at the end of the session.",
    )
    token_uid = serializers.CharField(
        max_length=64, required=False, help_text="UID of the charging token used."
    )
    token_kind = serializers.ChoiceField(
        choices=["rfid", "app", "contract_id"],
        required=False,
        help_text="The token's kind; required when tokens of several kinds share the UID.",
    )
    customer_id = serializers.IntegerField(
        required=False, help_text="The customer, instead of a token."
    )
    ad_hoc_email = serializers.EmailField(
        required=False, help_text="An ad-hoc driver's e-mail for the receipt."
    )


class OcpiPriceSerializer(serializers.Serializer):
    excl_vat = serializers.FloatField(help_text="Price excl. VAT (exact decimal number).")
    incl_vat = serializers.FloatField(required=False, help_text="Price incl. VAT.")


class OcpiPriceComponentSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["ENERGY", "FLAT", "PARKING_TIME", "TIME"],
        help_text="ENERGY per kWh, TIME/PARKING_TIME per hour, FLAT once per session.",
    )
    price = serializers.FloatField(help_text="Price per unit excl. VAT (exact decimal number).")
    vat = serializers.FloatField(
        required=False, help_text="VAT rate in percent; absent: the operator's rate."
    )
    step_size = serializers.IntegerField(
        help_text="Billing step: Wh for ENERGY, seconds for TIME/PARKING_TIME, 1 for FLAT."
    )


class OcpiRestrictionsSerializer(serializers.Serializer):
    start_time = serializers.CharField(required=False, help_text="HH:MM local time, inclusive.")
    end_time = serializers.CharField(required=False, help_text="HH:MM local time, exclusive.")
    start_date = serializers.CharField(required=False, help_text="YYYY-MM-DD local, inclusive.")
    end_date = serializers.CharField(required=False, help_text="YYYY-MM-DD local, exclusive.")
    min_kwh = serializers.FloatField(required=False, help_text="Minimum energy of the session.")
    max_kwh = serializers.FloatField(required=False, help_text="Maximum energy of the session.")
    min_current = serializers.FloatField(required=False, help_text="Minimum current (A).")
    max_current = serializers.FloatField(required=False, help_text="Maximum current (A).")
    min_power = serializers.FloatField(required=False, help_text="Minimum power (kW).")
    max_power = serializers.FloatField(required=False, help_text="Maximum power (kW).")
    min_duration = serializers.IntegerField(required=False, help_text="Minimum duration (s).")
    max_duration = serializers.IntegerField(required=False, help_text="Maximum duration (s).")
    day_of_week = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="MONDAY … SUNDAY."
    )
    reservation = serializers.CharField(
        required=False, help_text="RESERVATION or RESERVATION_EXPIRES."
    )


class OcpiTariffElementSerializer(serializers.Serializer):
    price_components = OcpiPriceComponentSerializer(
        many=True, help_text="Prices of this element, one per dimension."
    )
    restrictions = OcpiRestrictionsSerializer(
        required=False, help_text="When the element applies (all given must hold)."
    )


class OcpiTariffSerializer(serializers.Serializer):
    """An OCPI 2.2.1 Tariff object; numbers are exact and returned exactly as sent."""

    id = serializers.CharField(max_length=36, help_text="The tariff's id (unique per operator).")
    currency = serializers.CharField(max_length=3, help_text="ISO 4217 code, e.g. EUR.")
    country_code = serializers.CharField(required=False, help_text="OCPI party country code.")
    party_id = serializers.CharField(required=False, help_text="OCPI party id.")
    type = serializers.CharField(required=False, help_text="OCPI TariffType, e.g. REGULAR.")
    tariff_alt_text = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Texts for drivers."
    )
    tariff_alt_url = serializers.CharField(required=False, help_text="URL of the tariff page.")
    min_price = OcpiPriceSerializer(required=False, help_text="Minimum session price.")
    max_price = OcpiPriceSerializer(required=False, help_text="Maximum session price.")
    elements = OcpiTariffElementSerializer(
        many=True, help_text="Tariff elements; per dimension the first that matches applies."
    )
    start_date_time = serializers.DateTimeField(required=False, help_text="Valid from (RFC 3339).")
    end_date_time = serializers.DateTimeField(required=False, help_text="Valid until.")
    energy_mix = serializers.DictField(required=False, help_text="OCPI EnergyMix.")
    last_updated = serializers.DateTimeField(required=False, help_text="Last change (RFC 3339).")


class OcpiCdrDimensionSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="ENERGY, TIME, PARKING_TIME, … (OCPI CdrDimensionType).")
    volume = serializers.FloatField(help_text="Volume in the dimension's unit (exact number).")


class OcpiChargingPeriodSerializer(serializers.Serializer):
    start_date_time = serializers.DateTimeField(help_text="Start of the period.")
    dimensions = OcpiCdrDimensionSerializer(many=True, help_text="What was used in the period.")
    tariff_id = serializers.CharField(required=False, help_text="Tariff of the period.")


class OcpiCdrTokenSerializer(serializers.Serializer):
    uid = serializers.CharField(help_text="Token UID; with the type, names the customer.")
    type = serializers.ChoiceField(
        choices=["RFID", "APP_USER", "AD_HOC_USER", "OTHER"],
        required=False,
        help_text="RFID: an rfid token; APP_USER, AD_HOC_USER: an app token; OTHER: a "
        "contract_id token. Required when tokens of several kinds share the UID.",
    )
    contract_id = serializers.CharField(required=False, help_text="eMAID.")


class OcpiCdrLocationSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, help_text="OCPI location id.")
    evse_id = serializers.CharField(help_text="EVSE ID of the charging point.")


class OcpiSignedValueSerializer(serializers.Serializer):
    nature = serializers.CharField(help_text="Start, End or Intermediate.")
    plain_data = serializers.CharField(required=False, help_text="The readings, readable.")
    signed_data = serializers.CharField(help_text="The signed record: an OCMF string.")


class OcpiSignedDataSerializer(serializers.Serializer):
    """OCPI 2.2.1 SignedData: the charger's signed meter values, kept exactly as received."""

    encoding_method = serializers.CharField(help_text="OCMF (other methods are stored only).")
    encoding_method_version = serializers.IntegerField(
        required=False, help_text="Version of the encoding method."
    )
    public_key = serializers.CharField(
        required=False, help_text="The meter's key; must be the one registered for the EVSE."
    )
    signed_values = OcpiSignedValueSerializer(many=True, help_text="Begin and end records.")
    url = serializers.CharField(required=False, help_text="Where the data can be verified.")


class OcpiCdrSerializer(serializers.Serializer):
    """An OCPI 2.2.1 CDR; only the pricing-relevant fields are read, the whole is kept."""

    id = serializers.CharField(max_length=64, help_text="The CDR id: the session's source id.")
    start_date_time = serializers.DateTimeField(help_text="Start of the session.")
    end_date_time = serializers.DateTimeField(help_text="End of the session.")
    cdr_token = OcpiCdrTokenSerializer(required=False, help_text="The token used.")
    cdr_location = OcpiCdrLocationSerializer(help_text="Where the session took place.")
    currency = serializers.CharField(required=False, help_text="ISO 4217 currency.")
    tariffs = OcpiTariffSerializer(
        many=True, required=False, help_text="The tariff applied (the first one is used)."
    )
    charging_periods = OcpiChargingPeriodSerializer(
        many=True, help_text="What was used when; these are priced."
    )
    total_energy = serializers.FloatField(required=False, help_text="Total energy in kWh.")
    signed_data = OcpiSignedDataSerializer(
        required=False,
        help_text="Signed meter data (Eichrecht): at a calibration-law relevant EVSE only "
        "their readings are billed; without valid ones the session is quarantined.",
    )


class BulkSessionsSerializer(serializers.Serializer):
    """Many sessions in one request; each gets its own result."""

    format = serializers.ChoiceField(
        choices=["native", "ocpi_cdr"],
        default="native",
        help_text="native records or OCPI 2.2.1 CDRs.",
    )
    sessions = serializers.ListField(
        child=serializers.DictField(),
        max_length=MAX_BULK_ITEMS,
        help_text=f"Up to {MAX_BULK_ITEMS} native records or CDRs (objects as in the single "
        "endpoints).",
    )


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request (from 0).")
    source_id = serializers.CharField(help_text="The item's source id as sent.")
    status = serializers.ChoiceField(
        choices=["created", "duplicate", "rejected"],
        help_text="created; duplicate (stored before, unchanged); rejected (see errors).",
    )
    session_id = serializers.IntegerField(
        allow_null=True, help_text="The stored session's id (created or duplicate)."
    )
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field of a rejected item; empty otherwise.",
    )


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="How many were stored and priced.")
    duplicates = serializers.IntegerField(help_text="How many were stored before (unchanged).")
    rejected = serializers.IntegerField(help_text="How many were refused; nothing of them stored.")
    results = IngestResultSerializer(many=True, help_text="One result per item, in order.")
