"""The outbox worker: claim a due message with a row lock, hand it to the provider, record it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.sms import SmsError, send_sms
from customers.notifications.attachments import (
    AttachmentError,
    AttachmentNotReady,
    attachments_for,
)
from customers.notifications.events import EVENTS
from customers.notifications.models import MessageAttempt, OutboundMessage

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# A claim older than this belongs to a worker that died mid-send; the message is tried again.
STALE_CLAIM = timedelta(minutes=15)
# A message waiting for its attachment (a PDF being rendered) looks again after this; the
# render releases it at once. After a day the file is not coming: the message fails.
ATTACHMENT_WAIT = timedelta(minutes=10)
ATTACHMENT_GIVE_UP = timedelta(days=1)
# Messages a worker claims at once: few round trips, and a dead worker strands few.
BATCH = 100


class _SendFailed(Exception):
    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8… minutes after each failed attempt, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=6))


def send_message(message_id: int, *, now: datetime | None = None) -> str:
    """Send one message if it is due and unsent; returns its status afterwards ('' if unknown).

    Safe to run twice: the claim (queued -> sending under a row lock) lets one run through."""
    now = now or timezone.now()
    claimed = _claim(OutboundMessage.objects.filter(pk=message_id), now)
    if not claimed:
        return (
            OutboundMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
            or ""
        )
    return _send_claimed(claimed[0])


def send_messages(message_ids: list[int], *, now: datetime | None = None) -> int:
    """Send these messages where due and unsent, claimed together; returns how many went out.
    Safe to run twice, as `send_message`."""
    claimed = _claim(OutboundMessage.objects.filter(pk__in=message_ids), now or timezone.now())
    return sum(_send_claimed(message) == OutboundMessage.Status.SENT for message in claimed)


def _claim(candidates, now: datetime, limit: int | None = None) -> list[OutboundMessage]:
    """Take due messages for this worker (queued -> sending) in one short transaction; rows
    another worker is taking are skipped, not waited for. Returns them as they were before."""
    with transaction.atomic():
        due = (
            candidates.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer")
            .filter(_claimable(now))
            .order_by("not_before", "id")
        )
        messages = list(due[:limit] if limit else due)
        if not messages:
            return []
        ids = [message.pk for message in messages]
        OutboundMessage.objects.filter(pk__in=ids).filter(_claimable(now)).update(
            status=OutboundMessage.Status.SENDING,
            claimed_at=now,
            attempt_count=F("attempt_count") + 1,
        )
        # Where row locks are not (SQLite) the status transition is the claim: one run wins.
        ours = set(
            OutboundMessage.objects.filter(
                pk__in=ids, status=OutboundMessage.Status.SENDING, claimed_at=now
            ).values_list("pk", flat=True)
        )
    return [message for message in messages if message.pk in ours]


def _send_claimed(message: OutboundMessage) -> str:
    """Hand a claimed message to its provider and record the attempt; returns its status."""
    started = timezone.now()
    attempts = message.attempt_count + 1
    try:
        provider_id = _deliver(message)
    except AttachmentNotReady as waiting:
        if timezone.now() - message.created_at < ATTACHMENT_GIVE_UP:
            # Not an attempt: nothing was handed to the provider.
            OutboundMessage.objects.filter(pk=message.pk).update(
                status=OutboundMessage.Status.QUEUED,
                attempt_count=F("attempt_count") - 1,
                not_before=timezone.now() + ATTACHMENT_WAIT,
                last_error=str(waiting),
            )
            return OutboundMessage.Status.QUEUED
        failure = _SendFailed(str(waiting), retryable=False)
        return _record_failure(message, attempts, started, failure)
    except _SendFailed as failure:
        return _record_failure(message, attempts, started, failure)
    with transaction.atomic():
        MessageAttempt.objects.create(
            message=message,
            started_at=started,
            outcome=MessageAttempt.Outcome.SENT,
            provider_message_id=provider_id,
        )
        sent_at = timezone.now()
        secret = EVENTS.get(message.event)
        blank = (
            {"subject": "", "body_text": "", "body_html": "", "erased_at": sent_at}
            if secret is not None and secret.secret
            else {}
        )
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=OutboundMessage.Status.SENT,
            provider_message_id=provider_id,
            sent_at=sent_at,
            last_error="",
            **blank,
        )
    return OutboundMessage.Status.SENT


def _record_failure(
    message: OutboundMessage, attempts: int, started: datetime, failure: _SendFailed
) -> str:
    """Record a failed attempt: queued again after its backoff, or failed for good."""
    give_up = not failure.retryable or attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        if give_up and message.customer_id:
            operator = message.customer.operator_id
            webhooks.emit(operator=operator, event="notification.failed", objects=[message.pk])
        MessageAttempt.objects.create(
            message=message,
            started_at=started,
            outcome=MessageAttempt.Outcome.FAILED,
            reason=failure.reason,
        )
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=OutboundMessage.Status.FAILED if give_up else OutboundMessage.Status.QUEUED,
            last_error=failure.reason,
            not_before=timezone.now() + backoff(attempts),
        )
    logger.warning("Outbound message %s failed (attempt %s)", message.pk, attempts)
    return OutboundMessage.Status.FAILED if give_up else OutboundMessage.Status.QUEUED


def send_due_messages(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Drain the outbox once, up to `limit` messages (Beat's sweeper, tests, the benchmark);
    returns how many went out. Each worker claims batches of its own rows, so workers draining
    side by side never wait for or retry each other's messages."""
    sent = tried = 0
    while tried < limit:
        claimed = _claim(OutboundMessage.objects.all(), now or timezone.now(), BATCH)
        for message in claimed:
            sent += _send_claimed(message) == OutboundMessage.Status.SENT
        tried += len(claimed)
        if len(claimed) < BATCH:
            break
    return sent


def _claimable(now: datetime) -> Q:
    return Q(status=OutboundMessage.Status.QUEUED, not_before__lte=now) | Q(
        status=OutboundMessage.Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    )


def _deliver(message: OutboundMessage) -> str:
    """Hand the message to the e-mail backend or SMS gateway; returns the provider's id."""
    if message.channel == OutboundMessage.Channel.SMS:
        try:
            return send_sms(to=message.recipient, body=message.body_text)
        except SmsError as error:
            raise _SendFailed(str(error.reason), error.retryable) from error
    message_id = make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or None)
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        reply_to=[message.reply_to] if message.reply_to else None,
        headers={"Message-ID": message_id, "Content-Language": message.language},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    event = EVENTS.get(message.event)
    if message.regarding and event is not None and event.attachments:
        try:
            for name, content, mimetype in attachments_for(message.regarding):
                email.attach(name, content, mimetype)
        except AttachmentError as error:
            raise _SendFailed(str(error), retryable=False) from error
        except OSError as error:
            # The storage failed this time (S3 down): tried again after the backoff.
            raise _SendFailed(f"{type(error).__name__}: {error}", retryable=True) from error
    try:
        email.send()
    except OSError as error:
        raise _SendFailed(f"{type(error).__name__}: {error}", retryable=True) from error
    # A provider API backend (django-anymail) reports its own id for the message.
    status = getattr(email, "anymail_status", None)
    return getattr(status, "message_id", None) or message_id
