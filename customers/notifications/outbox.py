"""Writing messages into the outbox in the caller's transaction, in the driver's language."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone

from cpo_portal.kernel.bulk import insert_models
from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.notifications.events import EVENTS, Event
from customers.notifications.models import NotificationPreference, OutboundMessage
from customers.notifications.sending import ATTACHMENT_WAIT, BATCH
from customers.notifications.templates import operator_templates, render_message

logger = logging.getLogger(__name__)
LANGUAGES = {code for code, _name in settings.LANGUAGES}
CHANNELS_CHOSEN = {
    None: {"email", "sms"},
    "both": {"email", "sms"},
    "email": {"email"},
    "sms": {"sms"},
    "none": set(),
}


@dataclass(frozen=True)
class Notice:
    """One event to tell one customer, as `notify` takes it (for `notify_many`).

    `files_follow`: why its e-mail cannot go yet (“the PDF is not rendered yet”): the files it
    carries are made after this transaction, so it waits for their release instead of being
    tried at once, and staff read the reason meanwhile."""

    event: str
    customer: Customer
    context: Mapping[str, object] = field(default_factory=dict)
    dedupe_key: str = ""
    email: str = ""
    language: str = ""
    regarding: str = ""
    reply_to: str = ""
    mandatory: bool = False
    sms: bool = True
    resend: bool = False
    files_follow: str = ""


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
    return tell(
        Notice(
            event=event,
            customer=customer,
            context=context,
            dedupe_key=dedupe_key,
            email=email,
            language=language,
            regarding=regarding,
            reply_to=reply_to,
            mandatory=mandatory,
            sms=sms,
            resend=resend,
        )
    )


def tell(notice: Notice) -> list[OutboundMessage]:
    """Queue one notice (what `notify` queues); returns the messages written now."""
    definition = _event(notice.event)
    wanted = channels_for(notice.customer, definition)
    messages = _messages(notice, definition, wanted, templates=None)
    return [saved for saved in map(_save, messages) if saved is not None]


def notify_many(notices: Sequence[Notice]) -> int:
    """Queue many notices in the caller's transaction as `notify` would one by one (same rows,
    channels and dedupe), with a few queries for all of them: their customers' choices and
    operators' templates read once, the rows written in one go, their sending queued in
    batches after commit. Returns how many messages were queued."""
    if not notices:
        return 0
    definitions = {notice.event: _event(notice.event) for notice in notices}
    choices = _choices({notice.customer.pk for notice in notices}, set(definitions))
    templates = operator_templates(
        {notice.customer.operator_id for notice in notices}, set(definitions)
    )
    messages = [
        message
        for notice in notices
        for message in _messages(
            notice,
            definitions[notice.event],
            _channels(choices.get((notice.customer.pk, notice.event)), definitions[notice.event]),
            templates=templates,
        )
    ]
    keys = [message.dedupe_key for message in messages if message.dedupe_key]
    queued_before = set(
        OutboundMessage.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    new = [message for message in messages if message.dedupe_key not in queued_before]
    try:
        with transaction.atomic():
            insert_models(new)
    except IntegrityError:
        # Queued meanwhile by another run: one by one, each skipping what is there already.
        return sum(_save(message) is not None for message in new)
    now = timezone.now()
    _send_after_commit([message.pk for message in new if message.not_before <= now])
    return len(new)


def channels_for(customer: Customer, event: Event) -> set[str]:
    """The customer's choice for the event (both channels unless they chose); a mandatory
    message goes out by e-mail whatever they chose, as the law or the contract requires it."""
    choice = (
        NotificationPreference.objects.filter(customer=customer, event=event.code)
        .values_list("channels", flat=True)
        .first()
    )
    return _channels(choice, event)


def _channels(choice: str | None, event: Event) -> set[str]:
    channels = CHANNELS_CHOSEN[choice]
    return channels | {"email"} if event.mandatory else channels


def _choices(customer_ids: Iterable[int], events: Iterable[str]) -> dict[tuple[int, str], str]:
    """Many customers' choices for some events: (customer id, event) -> channels."""
    rows = NotificationPreference.objects.filter(
        customer_id__in=list(customer_ids), event__in=list(events)
    ).values_list("customer_id", "event", "channels")
    return {(customer_id, event): channels for customer_id, event, channels in rows}


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
    _send_after_commit([copy.pk])
    return copy


def release(*, regarding: str) -> int:
    """The files of `regarding` now exist: its queued e-mails go out now rather than at their
    next look; returns how many were released."""
    waiting = list(
        OutboundMessage.objects.filter(
            regarding=regarding,
            channel=OutboundMessage.Channel.EMAIL,
            status=OutboundMessage.Status.QUEUED,
        ).values_list("pk", flat=True)
    )
    OutboundMessage.objects.filter(pk__in=waiting).update(not_before=timezone.now())
    _send_after_commit(waiting)
    return len(waiting)


def _messages(
    notice: Notice, event: Event, wanted: set[str], *, templates: Mapping | None
) -> list[OutboundMessage]:
    """The rows a notice makes, rendered in its language, not saved yet."""
    if notice.mandatory:
        wanted = wanted | {OutboundMessage.Channel.EMAIL}
    if not notice.sms:
        wanted = wanted - {OutboundMessage.Channel.SMS}
    customer = notice.customer
    language = _language(notice.language or customer.language)
    recipients = []
    address = notice.email or customer.email
    if address and OutboundMessage.Channel.EMAIL in wanted:
        recipients.append((OutboundMessage.Channel.EMAIL, address))
    if customer.mobile_phone and OutboundMessage.Channel.SMS in wanted and _has_sms_template(event):
        recipients.append((OutboundMessage.Channel.SMS, customer.mobile_phone))
    messages = []
    for channel, recipient in recipients:
        subject, text, html = render_message(
            event=event,
            channel=channel,
            language=language,
            context=notice.context,
            operator_id=customer.operator_id,
            templates=templates,
        )
        waits = bool(notice.files_follow) and channel == OutboundMessage.Channel.EMAIL
        messages.append(
            OutboundMessage(
                customer=customer,
                event=event.code,
                channel=channel,
                recipient=recipient,
                language=language,
                subject=subject,
                body_text=text,
                body_html=html,
                dedupe_key=f"{notice.dedupe_key}:{channel}" if notice.dedupe_key else None,
                # Released when its files are stored; the sweeper looks after the wait if not.
                not_before=(
                    timezone.now() + ATTACHMENT_WAIT if waits else _not_before(channel, customer)
                ),
                regarding=notice.regarding,
                reply_to=notice.reply_to,
                is_resend=notice.resend,
                last_error=notice.files_follow if waits else "",
            )
        )
    return messages


def _save(message: OutboundMessage) -> OutboundMessage | None:
    """Write one message and send it after commit when it is due; None when its dedupe key was
    queued before."""
    try:
        with transaction.atomic():
            message.save(force_insert=True)
    except IntegrityError:
        return None  # already queued by an earlier run: sent once
    if message.not_before <= timezone.now():
        _send_after_commit([message.pk])
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
        get_template(f"{event.templates}_sms.txt")
    except TemplateDoesNotExist:
        return False
    except Exception:
        return True  # a shipped template that does not compile fails loudly when rendered
    return True


def _event(code: str) -> Event:
    try:
        return EVENTS[code]
    except KeyError:
        raise InvalidInput(f"Unknown notification event {code!r}.") from None


def _language(language: str) -> str:
    """The driver's language, else the operator's default: never a message in no language."""
    return language if language in LANGUAGES else settings.LANGUAGE_CODE


def _send_after_commit(message_ids: Sequence[int]) -> None:
    """Once the transaction commits, queue the sending: one task for one message, one task per
    BATCH of many."""
    from customers import tasks

    ids = list(message_ids)

    def queue() -> None:
        try:
            if len(ids) == 1:
                tasks.send_outbound_message.delay(ids[0])
                return
            for start in range(0, len(ids), BATCH):
                tasks.send_outbound_messages.delay(ids[start : start + BATCH])
        except Exception:
            # The broker is down: the rows stay queued and the sweeper sends them.
            logger.exception("Could not queue %s outbound messages", len(ids))

    if ids:
        transaction.on_commit(queue)
