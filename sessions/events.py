"""What integrators' webhooks say about a session (registered with the kernel's outbox)."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.integrations.models import WebhookEventType
from cpo_portal.kernel.integrations.webhooks import instant, money_text, register_payloads
from sessions.models import ChargingSession

# Only the columns the event shows: not the payload, periods and tariff JSON.
SESSION_EVENT_FIELDS = (
    "source",
    "source_id",
    "customer",
    "evse",
    "evse__evse_id",
    "tariff",
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
    sessions = (
        ChargingSession.objects.filter(pk__in=ids, operator_id=operator_id)
        .select_related("evse", "tariff")
        .only(*SESSION_EVENT_FIELDS)
    )
    return {s.pk: session_data(s) for s in sessions}


def session_data(session: ChargingSession) -> dict:
    return {
        "id": session.pk,
        "source": session.source,
        "source_id": session.source_id,
        "customer_id": session.customer_id,
        "evse_id": session.evse.evse_id,
        "tariff_id": session.tariff.ocpi_id,
        "started_at": instant(session.started_at),
        "ended_at": instant(session.ended_at),
        "energy_kwh": money_text(session.energy_kwh),
        "currency": session.currency,
        "total_net": money_text(session.total_net),
        "total_vat": money_text(session.total_vat),
        "total_gross": money_text(session.total_gross),
    }


def register() -> None:
    register_payloads(events=[WebhookEventType.SESSION_PRICED], reader=session_payloads)
