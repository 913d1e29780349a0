"""The daily clean-up of expired short links (registered through CELERY_IMPORTS)."""

from celery import shared_task

from cpo_portal.kernel.links import delete_expired


@shared_task(name="invoicing.delete_expired_short_links")
def delete_expired_short_links() -> int:
    """Expired short links lead nowhere; deleting them twice deletes nothing more."""
    return delete_expired()
