"""Privacy: message texts are kept only as long as configured; ad-hoc drivers' addresses 30 days."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer
from customers.notifications.models import OutboundMessage

AD_HOC_RETENTION = timedelta(days=30)
FINISHED = (OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED)


def erase_expired_messages(*, now: datetime | None = None) -> int:
    """Blank finished messages' texts after NOTIFICATION_BODY_DAYS, and ad-hoc drivers' (or
    unknown) recipients with their texts after 30 days; the log of what was sent stays."""
    now = now or timezone.now()
    body_cutoff = now - timedelta(days=settings.NOTIFICATION_BODY_DAYS)
    ad_hoc = Q(customer__isnull=True) | Q(customer__kind=Customer.Kind.AD_HOC)
    finished = OutboundMessage.objects.filter(status__in=FINISHED)
    addresses = finished.filter(ad_hoc, created_at__lt=now - AD_HOC_RETENTION).exclude(recipient="")
    erased = addresses.update(recipient="", subject="", body_text="", body_html="", erased_at=now)
    erased += finished.filter(created_at__lt=body_cutoff, erased_at__isnull=True).update(
        subject="", body_text="", body_html="", erased_at=now
    )
    return erased
