"""Webhook delivery and integrator housekeeping tasks (names kept from the invoicing app)."""

from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task

from cpo_portal.kernel.integrations import idempotency, webhooks

# Up to this many deliveries are queued one message each; more go through a fan-out task.
DIRECT_DELIVERIES = 20


def queue_deliveries(delivery_ids: Sequence[int]) -> None:
    """One task per delivery now, or one fan-out message per batch for a big emit."""
    if len(delivery_ids) <= DIRECT_DELIVERIES:
        for delivery_id in delivery_ids:
            deliver_webhook.delay(delivery_id)
        return
    # A billing chunk emits hundreds of events: one message now, the fan-out in a worker.
    for start in range(0, len(delivery_ids), webhooks.FAN_OUT_BATCH):
        queue_webhook_deliveries.delay(list(delivery_ids[start : start + webhooks.FAN_OUT_BATCH]))


@shared_task(name="invoicing.deliver_webhook", acks_late=True)
def deliver_webhook(delivery_id: int) -> str:
    """One attempt of a webhook delivery; a soon retry is queued, later ones wait for the sweep."""
    result = webhooks.deliver(delivery_id=delivery_id)
    if result.retry_in is not None and result.retry_in <= webhooks.COUNTDOWN_LIMIT:
        deliver_webhook.apply_async((delivery_id,), countdown=result.retry_in.total_seconds())
    return result.status


@shared_task(name="invoicing.queue_webhook_deliveries", acks_late=True)
def queue_webhook_deliveries(delivery_ids: list[int]) -> int:
    """Fan a batch of webhook deliveries out into one task each."""
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)
    return len(delivery_ids)


@shared_task(name="invoicing.sweep_webhooks")
def sweep_webhooks() -> int:
    """Every minute: queue the webhook deliveries that are due (retries, lost tasks)."""
    ids = webhooks.due_delivery_ids()
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)


@shared_task(name="invoicing.clean_integrator_records")
def clean_integrator_records() -> dict[str, int]:
    """Hourly: idempotency keys after 24 h, finished webhook events after the retention."""
    return {
        "idempotency_records": idempotency.delete_expired(),
        "webhook_events": webhooks.delete_finished(),
    }
