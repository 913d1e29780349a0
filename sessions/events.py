"""What integrators' webhooks say about a session (registered with the kernel's outbox)."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.integrations.models import WebhookEventType
from cpo_portal.kernel.integrations.webhooks import instant, money_text, register_payloads
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
    rows = ChargingSession.objects.filter(pk__in=ids, operator_id=operator_id).values(
        *SESSION_EVENT_FIELDS
    )
    return {
        row["id"]: {
            "id": row["id"],
            "source": row["source"],
            "source_id": row["source_id"],
            "customer_id": row["customer_id"],
            "evse_id": row["evse__evse_id"],
            "tariff_id": row["tariff__ocpi_id"],
            "started_at": instant(row["started_at"]),
            "ended_at": instant(row["ended_at"]),
            "energy_kwh": money_text(row["energy_kwh"]),
            "currency": row["currency"],
            "total_net": money_text(row["total_net"]),
            "total_vat": money_text(row["total_vat"]),
            "total_gross": money_text(row["total_gross"]),
        }
        for row in rows
    }


def register() -> None:
    register_payloads(events=[WebhookEventType.SESSION_PRICED], reader=session_payloads)
