"""What integrators' `notification.failed` webhooks say: which message gave up, and why."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.integrations.webhooks import instant, register_payloads
from customers.notifications.models import OutboundMessage


def message_payloads(event: str, ids: Sequence[int], operator_id: int) -> dict[int, dict]:
    """The operator's messages among `ids`, without address or text (those stay with us)."""
    messages = OutboundMessage.objects.filter(pk__in=ids, customer__operator_id=operator_id)
    return {
        message.pk: {
            "id": message.pk,
            "customer_id": message.customer_id,
            "event": message.event,
            "channel": message.channel,
            "status": message.status,
            "attempts": message.attempt_count,
            "reason": message.last_error,
            "queued_at": instant(message.created_at),
        }
        for message in messages
    }


def register() -> None:
    register_payloads(events=["notification.failed"], reader=message_payloads)
