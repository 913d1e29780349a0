"""Scheduled customer jobs: thin wrappers around services."""

from celery import shared_task

from customers import services
from customers.notifications import erasure, sending


@shared_task(name="customers.erase_expired_ad_hoc_emails")
def erase_expired_ad_hoc_emails() -> int:
    """GDPR: erase ad-hoc e-mails 30 days after collection; returns how many were erased."""
    return services.erase_expired_ad_hoc_emails()


@shared_task(name="customers.send_outbound_message")
def send_outbound_message(message_id: int) -> str:
    """Send one outbox message if it is due and unsent (safe to run twice)."""
    return sending.send_message(message_id)


@shared_task(name="customers.send_outbound_messages")
def send_outbound_messages(message_ids: list[int]) -> int:
    """Send a batch of outbox messages queued together where due and unsent (safe to run
    twice); returns how many went out."""
    return sending.send_messages(message_ids)


@shared_task(name="customers.erase_expired_messages")
def erase_expired_messages() -> int:
    """Privacy: blank old message texts, and ad-hoc drivers' addresses after 30 days."""
    return erasure.erase_expired_messages()


@shared_task(name="customers.send_due_messages")
def send_due_messages() -> int:
    """Sweeper: retries after backoff, deferred messages, rows whose task was lost."""
    return sending.send_due_messages()
