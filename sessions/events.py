"""What integrators' webhooks say about a session (registered with the kernel's outbox)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from cpo_portal.kernel.integrations.models import WebhookEventType
from cpo_portal.kernel.integrations.webhooks import instant, money_text, register_payloads
from cpo_portal.kernel.money import round_quantity
from sessions.models import ChargingSession

# Only the columns the event shows: not the payload, periods and tariff JSON.
SESSION_EVENT_FIELDS = (
    "id",
    "source",
    "source_id",
    "customer_id",
    "evse__evse_id",
    "tariff__ocpi_id",
    "started_at",
    "ended_at",
    "energy_kwh",
    "currency",
    "total_net",
    "total_vat",
    "total_gross",
)


def session_payloads(event: str, ids: Sequence[int], operator_id: int) -> dict[int, dict]:
    """The operator's sessions among `ids` as a `session.*` event shows them (one query)."""
    # Plain rows, not model instances: a bulk of 1,000 priced sessions built 3,000 of them.
    rows = ChargingSession.objects.filter(pk__in=ids, operator_id=operator_id).values_list(
        *SESSION_EVENT_FIELDS
    )
    return {row[0]: _shown(*row) for row in rows}


def stored_session_payloads(sessions: Iterable[ChargingSession]) -> dict[int, dict]:
    """Sessions this transaction has just stored, as their events show them, without reading
    them back (their EVSE and tariff are the objects they were stored with)."""
    return {
        s.pk: _shown(
            s.pk,
            s.source,
            s.source_id,
            s.customer_id,
            s.evse.evse_id,
            s.tariff.ocpi_id,
            s.started_at,
            s.ended_at,
            _as_stored(_ENERGY, s.energy_kwh),
            s.currency,
            _as_stored(_NET, s.total_net),
            _as_stored(_VAT, s.total_vat),
            _as_stored(_GROSS, s.total_gross),
        )
        for s in sessions
    }


_ENERGY, _NET, _VAT, _GROSS = (
    ChargingSession._meta.get_field(name)
    for name in ("energy_kwh", "total_net", "total_vat", "total_gross")
)


def _as_stored(field, value: Decimal | None) -> Decimal | None:
    """The value as its column gives it back: with exactly the column's decimal places (the
    services round before storing, so this only writes the trailing zeros)."""
    if value is None:
        return None
    return round_quantity(value, Decimal(1).scaleb(-field.decimal_places))


def _shown(
    id, source, source_id, customer_id, evse_id, tariff_id, started_at, ended_at,
    energy_kwh, currency, total_net, total_vat, total_gross,
) -> dict:  # fmt: skip
    """One session's event data: one shape, whether read back or just stored."""
    return {
        "id": id,
        "source": source,
        "source_id": source_id,
        "customer_id": customer_id,
        "evse_id": evse_id,
        "tariff_id": tariff_id,
        "started_at": instant(started_at),
        "ended_at": instant(ended_at),
        "energy_kwh": money_text(energy_kwh),
        "currency": currency,
        "total_net": money_text(total_net),
        "total_vat": money_text(total_vat),
        "total_gross": money_text(total_gross),
    }


def register() -> None:
    register_payloads(events=[WebhookEventType.SESSION_PRICED], reader=session_payloads)
