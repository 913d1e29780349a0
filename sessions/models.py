"""Locations, EVSEs, OCPI tariffs and charging sessions with their priced breakdown."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer

SEARCH_MATCHES = 100  # EVSEs or customers a session search looks into at most


class Location(models.Model):
    """A charging site; its time zone decides which tariff restrictions apply."""

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="locations"
    )
    ocpi_id = models.CharField(
        _("OCPI id"),
        max_length=36,
        blank=True,
        db_default="",
        help_text=_("The location's id in OCPI (set when created through the API)."),
    )
    name = models.CharField(_("name"), max_length=200)
    street = models.CharField(_("street"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=20)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166-1 alpha-2."))
    time_zone = models.CharField(
        _("time zone"), max_length=64, help_text=_("IANA name, e.g. Europe/Berlin.")
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "ocpi_id"],
                condition=~Q(ocpi_id=""),
                name="location_ocpi_id_unique_per_operator",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.city}, {self.country})"


class EVSE(models.Model):
    """One charging point at a location, identified by its EVSE ID."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="evses")
    evse_id = models.CharField(_("EVSE ID"), max_length=48, unique=True)
    max_power_kw = models.DecimalField(
        _("maximum power (kW)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    calibration_law_relevant = models.BooleanField(
        _("calibration-law relevant (Eichrecht)"),
        default=False,
        db_default=False,
        help_text=_(
            "Bill only the energy of the charger's signed meter readings; a session without "
            "valid signed data is quarantined (docs/metering.md)."
        ),
    )
    meter_public_key = models.TextField(
        _("meter public key"),
        blank=True,
        db_default="",
        help_text=_(
            "The public key of the charger's meter as printed on it or in its certificate "
            "(hex or base64 DER); signed data must be signed with it."
        ),
    )
    clock_legally_relevant = models.BooleanField(
        _("clock legally relevant"),
        default=True,
        db_default=True,
        help_text=_(
            "Untick when the charger's certificate does not cover its clock: time-based prices "
            "are then not billed at this EVSE in Germany."
        ),
    )

    class Meta:
        verbose_name = "EVSE"
        verbose_name_plural = "EVSEs"
        ordering = ["evse_id"]

    def __str__(self) -> str:
        return self.evse_id


class TariffQuerySet(models.QuerySet):
    def latest_versions(self) -> TariffQuerySet:
        """Per OCPI tariff id, the version that starts last (the one a new session gets)."""
        newest = Tariff.objects.filter(
            operator=models.OuterRef("operator"), ocpi_id=models.OuterRef("ocpi_id")
        ).order_by(*Tariff.NEWEST_FIRST)
        return self.filter(pk=models.Subquery(newest.values("pk")[:1]))

    def valid_at(self, moment) -> TariffQuerySet:
        """Versions whose validity (from `valid_from`, before `valid_until`) covers the moment,
        the one that started last first: that one prices a session starting then."""
        return self.filter(
            Q(valid_from__isnull=True) | Q(valid_from__lte=moment),
            Q(valid_until__isnull=True) | Q(valid_until__gt=moment),
        ).order_by(*Tariff.NEWEST_FIRST)


class Tariff(models.Model):
    """One version of an OCPI 2.2.1 tariff, kept as the JSON it was imported from (numbers stay
    exact); a version prices the sessions that start while it is valid."""

    # The version starting last wins; one without a start has always been valid.
    NEWEST_FIRST = (models.F("valid_from").desc(nulls_last=True), "-id")

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="tariffs"
    )
    ocpi_id = models.CharField(_("OCPI tariff ID"), max_length=36)
    currency = models.CharField(_("currency"), max_length=3)
    ocpi_json = models.TextField(_("OCPI JSON"))
    valid_from = models.DateTimeField(
        _("valid from"),
        null=True,
        blank=True,
        help_text=_(
            "The tariff's start_date_time, or when it replaced the previous version; "
            "empty: since always."
        ),
    )
    valid_until = models.DateTimeField(
        _("valid until"),
        null=True,
        blank=True,
        help_text=_("The tariff's end_date_time (exclusive); empty: until replaced."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = TariffQuerySet.as_manager()

    class Meta:
        ordering = ["ocpi_id", models.F("valid_from").asc(nulls_first=True), "id"]
        indexes = [models.Index(fields=["operator", "ocpi_id"], name="tariff_versions")]

    def __str__(self) -> str:
        if self.valid_from is None:
            return f"{self.ocpi_id} ({self.currency})"
        return f"{self.ocpi_id} ({self.currency}, from {self.valid_from:%Y-%m-%d %H:%M} UTC)"


class TariffSnapshot(models.Model):
    """A tariff's OCPI JSON exactly as sessions were priced with it, stored once per content."""

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    ocpi_json = models.TextField(_("OCPI JSON"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Tariff snapshot {self.sha256[:12]}"


class ChargingSessionQuerySet(models.QuerySet):
    def search(self, term: str) -> ChargingSessionQuerySet:
        """Sessions whose source ID starts with the term, at the EVSE with that EVSE ID, or of
        the customer with that e-mail; each alternative is an index scan."""
        term = term.strip()
        if not term:
            return self
        # EVSEs and customers are looked up first: an OR over joined tables is no index scan.
        evses = EVSE.objects.filter(evse_id__in={term, term.upper()}).values_list("pk", flat=True)
        customers = Customer.objects.filter(email__in={term, term.lower()}).values_list(
            "pk", flat=True
        )
        return self.filter(
            Q(source_id__startswith=term)
            | Q(evse_id__in=list(evses[:SEARCH_MATCHES]))
            | Q(customer_id__in=list(customers[:SEARCH_MATCHES]))
        )


class ChargingSession(models.Model):
    """A charging session (CDR) from the CPMS, priced against the tariff valid at its start."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")

    class PayloadFormat(models.TextChoices):
        NATIVE = "native", _("Native record")
        OCPI_CDR = "ocpi_cdr", _("OCPI 2.2.1 CDR")

    class MeterVerdict(models.TextChoices):
        NONE = "none", _("No signed meter data")
        VALID = "valid", _("Signed meter data verified")
        INVALID = "invalid", _("Signed meter data failed verification")

    class Quarantine(models.TextChoices):
        NONE = "", _("Not quarantined")
        OPEN = "open", _("Quarantined: waiting for staff")
        WRITTEN_OFF = "written_off", _("Written off: never billed")

    operator = models.ForeignKey(
        "invoicing.Operator", on_delete=models.PROTECT, related_name="charging_sessions"
    )
    source = models.CharField(
        _("source"), max_length=50, help_text=_("The system that sent the session, e.g. a CPMS.")
    )
    source_id = models.CharField(_("source ID"), max_length=64)
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices)
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        related_name="charging_sessions",
        null=True,
        blank=True,
    )
    token = models.ForeignKey(
        "customers.ChargingToken",
        on_delete=models.SET_NULL,
        related_name="charging_sessions",
        null=True,
        blank=True,
    )
    evse = models.ForeignKey(EVSE, on_delete=models.PROTECT, related_name="charging_sessions")
    tariff = models.ForeignKey(Tariff, on_delete=models.PROTECT, related_name="charging_sessions")
    tariff_snapshot = models.ForeignKey(
        TariffSnapshot,
        on_delete=models.PROTECT,
        related_name="charging_sessions",
        verbose_name=_("tariff snapshot"),
        help_text=_("The OCPI tariff JSON as it was at session start."),
    )
    started_at = models.DateTimeField(_("start"))
    ended_at = models.DateTimeField(_("end"), null=True, blank=True)
    energy_kwh = models.DecimalField(_("energy (kWh)"), max_digits=12, decimal_places=3)
    charging_seconds = models.PositiveIntegerField(_("charging time (s)"), default=0)
    idle_seconds = models.PositiveIntegerField(_("idle time (s)"), default=0)
    charging_periods = models.JSONField(_("charging periods"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.COMPLETED
    )
    currency = models.CharField(_("currency"), max_length=3)
    total_net = models.DecimalField(
        _("total excl. VAT"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    total_vat = models.DecimalField(
        _("VAT"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    total_gross = models.DecimalField(
        _("total incl. VAT"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    ocpi_totals = models.JSONField(
        _("OCPI totals"), default=dict, blank=True, help_text=_("Exact totals, as strings.")
    )
    priced_at = models.DateTimeField(_("priced at"), null=True, blank=True)
    issuing_due = models.BooleanField(
        _("due for a document"),
        default=False,
        db_default=False,  # rows written by SQL (COPY, benchmarks) are not due either
        help_text=_(
            "Decided when the session was stored, from the customer's schedule and the "
            "operator's settings then; only due sessions are billed later (catch-up, monthly)."
        ),
    )
    raw_payload = models.TextField(_("payload as received"))
    received_at = models.DateTimeField(auto_now_add=True)
    meter_verdict = models.CharField(
        _("signed meter data"),
        max_length=8,
        choices=MeterVerdict.choices,
        default=MeterVerdict.NONE,
        db_default=MeterVerdict.NONE,
    )
    meter_issues = models.JSONField(
        _("meter data findings"),
        default=list,
        db_default=[],
        blank=True,
        help_text=_("Why the signed data failed, or what the verifier noted about it."),
    )
    quarantine = models.CharField(
        _("quarantine"),
        max_length=12,
        choices=Quarantine.choices,
        default=Quarantine.NONE,
        db_default=Quarantine.NONE,
        blank=True,
        help_text=_(
            "A quarantined session is not priced and never billed until staff resolve it "
            "(docs/metering.md)."
        ),
    )

    objects = ChargingSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"], name="session_unique_per_source"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="session_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(energy_kwh__gte=0), name="session_energy_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "started_at"]),
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["operator", "ended_at"]),
            # The admin list at ten million sessions (docs/operations.md, "Admin lists at
            # scale"): its order and date range (this one replaces an index on started_at
            # alone), and its search by the beginning of a source ID.
            models.Index(fields=["-started_at", "-id"], name="session_list_order"),
            models.Index(
                fields=["source_id"],
                name="session_source_id_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
            # The staff's quarantine list: few rows among millions.
            models.Index(
                fields=["-started_at"],
                condition=Q(quarantine="open"),
                name="session_quarantine_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.source_id}"

    @property
    def quarantined(self) -> bool:
        return self.quarantine != self.Quarantine.NONE


class SignedMeterData(models.Model):
    """The charger's signed meter data of one session (OCMF), kept exactly as received, with
    what verification read from it."""

    session = models.OneToOneField(
        ChargingSession, on_delete=models.PROTECT, related_name="signed_meter_data"
    )
    encoding_method = models.CharField(_("encoding method"), max_length=36)
    encoding_method_version = models.PositiveIntegerField(
        _("encoding method version"), null=True, blank=True
    )
    public_key = models.TextField(
        _("public key as received"), blank=True, help_text=_("Empty: the EVSE's registered key.")
    )
    url = models.CharField(_("verification URL"), max_length=512, blank=True)
    meter_serial = models.CharField(_("meter serial"), max_length=64, blank=True)
    start_kwh = models.DecimalField(
        _("start reading (kWh)"), max_digits=18, decimal_places=6, null=True, blank=True
    )
    end_kwh = models.DecimalField(
        _("end reading (kWh)"), max_digits=18, decimal_places=6, null=True, blank=True
    )
    pagination_context = models.CharField(_("pagination context"), max_length=1, blank=True)
    pagination_first = models.PositiveBigIntegerField(_("first record"), null=True, blank=True)
    pagination_last = models.PositiveBigIntegerField(_("last record"), null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("signed meter data")
        verbose_name_plural = _("signed meter data")
        ordering = ["meter_serial", "pagination_first", "id"]
        indexes = [
            models.Index(
                fields=["meter_serial", "pagination_context", "pagination_first"],
                name="signed_data_meter_records",
            )
        ]

    def __str__(self) -> str:
        return f"{self.encoding_method} {self.meter_serial or '?'} ({self.session_id})"

    @property
    def measured_kwh(self):
        """The energy between the signed start and end readings."""
        if self.start_kwh is None or self.end_kwh is None:
            return None
        return self.end_kwh - self.start_kwh


class SignedMeterValue(models.Model):
    """One signed record (OCPI SignedValue, an OCMF string) byte for byte as received."""

    signed_meter_data = models.ForeignKey(
        SignedMeterData, on_delete=models.CASCADE, related_name="values"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    nature = models.CharField(_("nature"), max_length=32, blank=True)
    plain_data = models.TextField(_("plain data"), blank=True)
    signed_data = models.TextField(_("signed data"))

    class Meta:
        ordering = ["signed_meter_data", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["signed_meter_data", "position"], name="signed_value_position_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.nature or 'record'} {self.position}"


class SessionChargeLine(models.Model):
    """One priced component of a session (energy, charging time, idle time, connection fee)."""

    class Component(models.TextChoices):
        ENERGY = "energy", _("Energy")
        CHARGING_TIME = "charging_time", _("Charging time")
        PARKING_TIME = "parking_time", _("Idle (parking) time")
        CONNECTION_FEE = "connection_fee", _("Connection fee")
        PRICE_ADJUSTMENT = "price_adjustment", _("Minimum/maximum price adjustment")

    class Unit(models.TextChoices):
        KWH = "kWh", _("kWh")
        MINUTE = "minute", _("minute")
        PACKAGE = "package", _("package")

    class VatCategory(models.TextChoices):
        ELECTRICITY = "electricity", _("Electricity")
        SERVICES = "services", _("Services")

    session = models.ForeignKey(
        ChargingSession, on_delete=models.CASCADE, related_name="charge_lines"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    component = models.CharField(_("component"), max_length=20, choices=Component.choices)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=10, choices=Unit.choices)
    unit_price = models.DecimalField(_("unit price"), max_digits=14, decimal_places=6)
    net = models.DecimalField(_("net"), max_digits=12, decimal_places=2)
    vat_category = models.CharField(_("VAT category"), max_length=12, choices=VatCategory.choices)
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    vat = models.DecimalField(_("VAT"), max_digits=12, decimal_places=2)
    gross = models.DecimalField(_("gross"), max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "position"], name="charge_line_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_component_display()} {self.quantity} {self.unit}"
