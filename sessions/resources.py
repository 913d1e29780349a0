"""Export columns of charging sessions with their priced breakdown (docs/exports.md)."""

from __future__ import annotations

from cpo_portal.kernel.exports.columns import (
    ExportResource,
    Integer,
    LocalTimestamp,
    Money,
    Number,
    Timestamp,
    column,
)


class SessionBreakdownResource(ExportResource):
    """One row per charge line of a session, each repeating the session's columns."""

    # The rows are SessionChargeLine objects: sessions/exports.py expands each session into its
    # lines, and a session without lines (not priced yet) into one line-less row.

    session_id = column("session_id", Integer())
    source = column("session__source")
    source_id = column("session__source_id")
    status = column("session__status")
    operator = column("session__operator__name")
    customer_id = column("session__customer_id", Integer())
    token_uid = column("session__token__uid")
    evse_id = column("session__evse__evse_id")
    location = column("session__evse__location__name")
    location_country = column("session__evse__location__country")
    location_time_zone = column("session__evse__location__time_zone")
    started_at_utc = column("session__started_at", Timestamp())
    ended_at_utc = column("session__ended_at", Timestamp())
    energy_kwh = column("session__energy_kwh", Number(3))
    charging_seconds = column("session__charging_seconds", Integer())
    idle_seconds = column("session__idle_seconds", Integer())
    currency = column("session__currency")
    session_total_net = column("session__total_net", Money())
    session_total_vat = column("session__total_vat", Money())
    session_total_gross = column("session__total_gross", Money())
    # The number of the invoice that bills the session: invoicing adds it to the sessions
    # (the annotation `billing_document_number`, invoicing/accounting/exports.py).
    document_number = column("session__billing_document_number")
    line_position = column("position", Integer())
    component = column("component")
    quantity = column("quantity", Number(3))
    unit = column("unit")
    unit_price = column("unit_price", Number(2, 6))
    net = column("net", Money())
    vat_category = column("vat_category")
    vat_rate = column("vat_rate", Number(2))
    vat = column("vat", Money())
    gross = column("gross", Money())
    # The same moments on the charger's clock (the zone is location_time_zone).
    started_at_location_time = column(
        "session__started_at", LocalTimestamp("session__evse__location__time_zone")
    )
    ended_at_location_time = column(
        "session__ended_at", LocalTimestamp("session__evse__location__time_zone")
    )

    @classmethod
    def prepare(cls, queryset):
        """Sessions (not lines) with their relations and charge lines."""
        return queryset.select_related("operator", "token", "evse__location").prefetch_related(
            "charge_lines"
        )
