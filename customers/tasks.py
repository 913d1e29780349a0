"""Scheduled customer jobs: thin wrappers around services."""

from celery import shared_task

from customers import services


@shared_task(name="customers.erase_expired_ad_hoc_emails")
def erase_expired_ad_hoc_emails() -> int:
    """GDPR: erase ad-hoc e-mails 30 days after collection; returns how many were erased."""
    return services.erase_expired_ad_hoc_emails()
