"""Writing messages into the outbox in the caller's transaction, in the driver's language."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import timezone

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.notifications.events import EVENTS, Event
from customers.notifications.models import NotificationPreference, OutboundMessage
from customers.notifications.templates import render_message

logger = logging.getLogger(__name__)
LANGUAGES = {code for code, _name in settings.LANGUAGES}


def notify(
    *,
    event: str,
    customer: Customer,
    context: Mapping[str, object],
    dedupe_key: str = "",
    email: str = "",
    language: str = "",
    regarding: str = "",
    reply_to: str = "",
    mandatory: bool = False,
    sms: bool = True,
    resend: bool = False,
) -> list[OutboundMessage]:
    """Queue `event` for `customer` on each channel it can go out on; sent after commit.

    `email`/`language` override the customer's (a document's recipient and language win);
    `mandatory` makes this one message go by e-mail whatever the preferences (the document the
    customer asked to receive by e-mail); `sms=False` keeps it to e-mail (a staff re-send)."""
    definition = _event(event)
    language = _language(language or customer.language)
    wanted = channels_for(customer, definition)
    if mandatory:
        wanted = wanted | {OutboundMessage.Channel.EMAIL}
    if not sms:
        wanted = wanted - {OutboundMessage.Channel.SMS}
    extra = {"regarding": regarding, "reply_to": reply_to, "is_resend": resend}
    messages = []
    address = email or customer.email
    if address and OutboundMessage.Channel.EMAIL in wanted:
        messages.append(
            _queue(
                definition,
                customer,
                OutboundMessage.Channel.EMAIL,
                address,
                language,
                context,
                dedupe_key,
                extra,
            )
        )
    if (
        customer.mobile_phone
        and OutboundMessage.Channel.SMS in wanted
        and _has_sms_template(definition)
    ):
        messages.append(
            _queue(
                definition,
                customer,
                OutboundMessage.Channel.SMS,
                customer.mobile_phone,
                language,
                context,
                dedupe_key,
                extra,
            )
        )
    return [message for message in messages if message is not None]


def channels_for(customer: Customer, event: Event) -> set[str]:
    """The customer's choice for the event (both channels unless they chose); a mandatory
    message goes out by e-mail whatever they chose, as the law or the contract requires it."""
    choice = (
        NotificationPreference.objects.filter(customer=customer, event=event.code)
        .values_list("channels", flat=True)
        .first()
    )
    channels = {
        None: {"email", "sms"},
        "both": {"email", "sms"},
        "email": {"email"},
        "sms": {"sms"},
        "none": set(),
    }[choice]
    return channels | {"email"} if event.mandatory else channels


def resend(*, message: OutboundMessage) -> OutboundMessage:
    """Staff re-send: a new row with the same content, queued now (the original stays as it was)."""
    if message.erased_at is not None:
        raise InvalidInput("The text of this message was erased; it can no longer be re-sent.")
    copy = OutboundMessage.objects.create(
        customer=message.customer,
        event=message.event,
        channel=message.channel,
        recipient=message.recipient,
        language=message.language,
        subject=message.subject,
        body_text=message.body_text,
        body_html=message.body_html,
        regarding=message.regarding,
        reply_to=message.reply_to,
        is_resend=True,
        not_before=timezone.now(),
    )
    _send_after_commit(copy)
    return copy


def release(*, regarding: str) -> int:
    """The files of `regarding` now exist: its queued e-mails go out now rather than at their
    next look; returns how many were released."""
    waiting = list(
        OutboundMessage.objects.filter(
            regarding=regarding,
            channel=OutboundMessage.Channel.EMAIL,
            status=OutboundMessage.Status.QUEUED,
        )
    )
    for message in waiting:
        OutboundMessage.objects.filter(pk=message.pk).update(not_before=timezone.now())
        _send_after_commit(message)
    return len(waiting)


def _queue(
    event: Event,
    customer: Customer,
    channel: str,
    recipient: str,
    language: str,
    context: Mapping[str, object],
    dedupe_key: str,
    extra: Mapping[str, object],
) -> OutboundMessage | None:
    subject, text, html = render_message(
        event=event,
        channel=channel,
        language=language,
        context=context,
        operator_id=customer.operator_id,
    )
    key = f"{dedupe_key}:{channel}" if dedupe_key else None
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                customer=customer,
                event=event.code,
                channel=channel,
                recipient=recipient,
                language=language,
                subject=subject,
                body_text=text,
                body_html=html,
                dedupe_key=key,
                not_before=_not_before(channel, customer),
                **extra,
            )
    except IntegrityError:
        return None  # already queued by an earlier run: sent once
    _send_after_commit(message)
    return message


def _not_before(channel: str, customer: Customer) -> datetime:
    """Now, except an SMS in the quiet hours where the customer lives (their time zone, else
    their operator's): deferred to their morning, never dropped."""
    now = timezone.now()
    if channel != OutboundMessage.Channel.SMS:
        return now
    local = now.astimezone(ZoneInfo(customer.time_zone or customer.operator.time_zone))
    start, end = settings.SMS_QUIET_HOURS
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return now
    morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
    return morning if morning > local else morning + timedelta(days=1)


def _has_sms_template(event: Event) -> bool:
    try:
        render_to_string(f"{event.templates}_sms.txt", {})
    except TemplateDoesNotExist:
        return False
    except Exception:
        return True
    return True


def _event(code: str) -> Event:
    try:
        return EVENTS[code]
    except KeyError:
        raise InvalidInput(f"Unknown notification event {code!r}.") from None


def _language(language: str) -> str:
    """The driver's language, else the operator's default: never a message in no language."""
    return language if language in LANGUAGES else settings.LANGUAGE_CODE


def _send_after_commit(message: OutboundMessage) -> None:
    from customers import tasks

    def queue() -> None:
        try:
            tasks.send_outbound_message.delay(message.pk)
        except Exception:
            # The broker is down: the row stays queued and the sweeper sends it.
            logger.exception("Could not queue outbound message %s", message.pk)

    transaction.on_commit(queue)
