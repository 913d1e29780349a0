"""Outgoing webhooks: events written to an outbox with the change, delivered signed, retried.

`emit` is called by the services inside their transaction: it writes one `WebhookEvent` per
object (with the exact JSON body) and one `WebhookDelivery` per subscribed endpoint, and
queues the deliveries once the transaction commits. A crash between commit and queueing loses
nothing: the minutely sweep sends what is due. Each attempt is signed in the style of the
Standard Webhooks specification (headers webhook-id, webhook-timestamp, webhook-signature
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), recorded, and retried with growing delays
for more than a day. Delivery is at least once: receivers deduplicate by webhook-id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cpo_portal.kernel.api.formats import render_json
from cpo_portal.kernel.bulk import insert_models, insert_rows
from cpo_portal.kernel.integrations.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from cpo_portal.kernel.signals import webhook_deliveries_written
from cpo_portal.kernel.tenancy import Operator

logger = logging.getLogger(__name__)

# Waits after attempt 1, 2, …: about 27.6 hours from the first attempt to the last of eight.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# Retries this soon are queued with a countdown; later ones are left to the minutely sweep
# (a countdown of hours would sit in the broker, beyond Redis's visibility timeout).
COUNTDOWN_LIMIT = timedelta(minutes=5)
# The sweep leaves deliveries this young to the task queued on commit or by countdown.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 1000
FAN_OUT_BATCH = 500
USER_AGENT = "cpo-portal-webhooks/1"


# --- writing events into the outbox --------------------------------------------------------------


def emit(
    *,
    operator: Operator | int,
    event: str,
    objects: Iterable[object] = (),
    described: Mapping[int, dict] | None = None,
) -> list[WebhookEvent]:
    """Write each object's event into the outbox in the caller's transaction; sent on commit.

    `described` gives the data of objects the caller has just written (by id), which then are
    not read back."""
    if event not in WebhookEventType.values:
        raise ValueError(f"Unknown webhook event “{event}”.")
    operator_id = operator if isinstance(operator, int) else operator.pk
    ids = list(dict.fromkeys(o if isinstance(o, int) else o.pk for o in objects))
    if not ids and not described:
        return []
    endpoints = [
        endpoint.pk
        for endpoint in WebhookEndpoint.objects.filter(
            integrator__operator_id=operator_id, integrator__is_active=True, is_active=True
        ).only("events")
        if not endpoint.events or event in endpoint.events
    ]
    if not endpoints:
        return []
    now = timezone.now()
    data = described if described is not None else _payloads(event, ids, operator_id)
    events = [
        WebhookEvent(
            operator_id=operator_id,
            message_id=f"msg_{uuid.uuid4().hex}",
            type=event,
            object_id=object_id,
            body=render_json({"type": event, "timestamp": instant(now), "data": shown}),
        )
        for object_id, shown in data.items()
    ]
    # COPY on PostgreSQL: a bulk of 1,000 sessions writes 1,000 bodies, which Django's bulk
    # INSERT quoted in Python; the deliveries go as plain rows (no model instances to build).
    insert_models(events)
    pending = WebhookDelivery.Status.PENDING
    delivery_ids = insert_rows(
        WebhookDelivery,
        DELIVERY_FIELDS,
        [(e.pk, p, pending, 0, now, "", now) for e in events for p in endpoints],
    )
    transaction.on_commit(lambda: queue_deliveries(delivery_ids))
    return events


# A new delivery: its event and endpoint, pending, no attempt yet, due now, no error, created now.
DELIVERY_FIELDS = (
    "event",
    "endpoint",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
)


# What each event says about its objects: the app that owns the objects registers a reader at
# start-up (its AppConfig.ready), so the kernel never imports the apps above it.
PayloadReader = Callable[[str, Sequence[int], int], dict[int, dict]]
_payload_readers: dict[str, PayloadReader] = {}


def register_payloads(*, events: Iterable[str], reader: PayloadReader) -> None:
    """Let `reader(event, ids, operator_id)` describe the objects of these events."""
    for event in events:
        _payload_readers[event] = reader


def _payloads(event: str, ids: Sequence[int], operator_id: int) -> dict[int, dict]:
    """The event's data per object, read as committed in this transaction."""
    found = _payload_readers[event](event, ids, operator_id)
    missing = set(ids) - set(found)
    if missing:
        logger.warning("No %s event for objects of another operator: %s", event, sorted(missing))
    return {object_id: found[object_id] for object_id in ids if object_id in found}


def money_text(value) -> str | None:
    """A Decimal as the exact string an event shows (None stays null)."""
    return None if value is None else str(value)


def instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- signing -------------------------------------------------------------------------------------


def signature(*, secret: str, message_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256>` of "id.timestamp.body" with the endpoint's secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(*, endpoint: WebhookEndpoint, event: WebhookEvent, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=endpoint.secret,
            message_id=event.message_id,
            timestamp=timestamp,
            body=event.body,
        ),
    }


# --- delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    status: str
    retry_in: timedelta | None = None


REFUSED = "Refused: "


class DestinationRefused(ValueError):
    """The endpoint's URL points where webhooks may not go (credentials, a private address)."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in settings.WEBHOOK_ALLOWED_NETWORKS]


def _address_allowed(address: str, allowed: Sequence) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed if net.version == ip.version):
        return True
    # Public unicast only: not loopback, link-local (169.254.169.254, the cloud metadata
    # service), private, shared, reserved or multicast ranges.
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable endpoint URL; DestinationRefused says why not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("Use an http(s) URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused(
            "Remove the user name and password from the URL: receivers check the "
            "webhook-signature header instead."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise DestinationRefused(f"Invalid port: {exc}.") from exc
    return parts.scheme, parts.hostname, port


def check_literal_destination(url: str) -> None:
    """At entry: credentials, and an IP address or localhost outside WEBHOOK_ALLOWED_NETWORKS."""
    _scheme, host, port = check_url(url)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.rstrip(".").lower()
        if name != "localhost" and not name.endswith(".localhost"):
            return  # a name is resolved and checked when each event is sent
    try:
        resolve_destination(host, port)
    except OSError:
        return


def resolve_destination(host: str, port: int) -> str:
    """The checked address to connect to: every address of the host must be allowed.

    DestinationRefused for a forbidden address; OSError when the name does not resolve (a
    passing DNS failure, retried like any other).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise DestinationRefused(f"Invalid host name {host}: {exc}.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    allowed = _allowed_networks()
    refused = [a for a in addresses if not _address_allowed(a, allowed)]
    if refused or not addresses:
        raise DestinationRefused(
            f"Refused destination {host} ({', '.join(refused)}): loopback, link-local, private "
            "and reserved addresses receive webhooks only when listed in "
            "WEBHOOK_ALLOWED_NETWORKS."
        )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to by now."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address; the certificate is verified for the URL's host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _post(url: str, body: bytes, headers: dict, timeout: float) -> tuple[int | None, str, str]:
    """(status, error, status line); the integrator's endpoint is the outside world.

    The host is resolved and every address checked now, and the connection goes to the checked
    address (DNS cannot switch it afterwards). Redirects are not followed (the attempt fails
    with its 3xx). The response body is never read or stored: support staff see the status line.
    """
    try:
        scheme, host, port = check_url(url)
        address = resolve_destination(host, port)
    except DestinationRefused as exc:
        return None, f"{REFUSED}{exc}", ""
    except OSError as exc:
        return None, f"{type(exc).__name__}: {exc}", ""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=address, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        code = response.status
        status_line = f"{code} {response.reason}".strip()[:100]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}", ""
    finally:
        connection.close()
    return code, "" if 200 <= code < 300 else f"HTTP {code}", status_line


def _claim(delivery_id: int, now: datetime) -> bool:
    lock = timedelta(seconds=settings.WEBHOOK_TIMEOUT * 3)
    return bool(
        WebhookDelivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now),
            pk=delivery_id,
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now,
        ).update(locked_until=now + lock)
    )


def deliver(*, delivery_id: int) -> DeliveryResult:
    """One recorded attempt of a due delivery; one not due, taken or done is left alone."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return DeliveryResult("skipped")
    delivery = WebhookDelivery.objects.select_related("event", "endpoint__integrator").get(
        pk=delivery_id
    )
    endpoint = delivery.endpoint
    if not (endpoint.is_active and endpoint.integrator.is_active):
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.FAILED,
            locked_until=None,
            last_error="The endpoint or its integrator was switched off.",
        )
        return DeliveryResult(WebhookDelivery.Status.FAILED)
    timestamp = int(time.time())
    headers = signed_headers(endpoint=endpoint, event=delivery.event, timestamp=timestamp)
    started = time.monotonic()
    code, error, status_line = _post(
        endpoint.url, delivery.event.body.encode(), headers, settings.WEBHOOK_TIMEOUT
    )
    duration_ms = int((time.monotonic() - started) * 1000)
    number = delivery.attempts + 1
    delivered = code is not None and 200 <= code < 300
    retry_in = None
    if delivered:
        changes = {"status": WebhookDelivery.Status.DELIVERED, "delivered_at": timezone.now()}
    elif number > len(RETRY_DELAYS) or error.startswith(REFUSED):
        # A refused destination stays refused until the URL or the allow-list changes
        # ("send again" then tries once more).
        changes = {"status": WebhookDelivery.Status.FAILED}
    else:
        retry_in = RETRY_DELAYS[number - 1]
        changes = {"next_attempt_at": timezone.now() + retry_in}
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery_id=delivery_id,
            number=number,
            attempted_at=now,
            status_code=code,
            error=error,
            response_excerpt=status_line,
            duration_ms=duration_ms,
        )
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            attempts=number,
            last_status_code=code,
            last_error=error,
            locked_until=None,
            **changes,
        )
    return DeliveryResult(changes.get("status", WebhookDelivery.Status.PENDING), retry_in)


def queue_deliveries(delivery_ids: Sequence[int]) -> None:
    """Announce deliveries to send now (after commit); what is not queued is left to the sweep."""
    try:
        webhook_deliveries_written.send(sender=WebhookDelivery, delivery_ids=list(delivery_ids))
    except Exception:
        # The outbox rows are committed; the minutely sweep delivers them.
        logger.exception("Could not queue %s webhook deliveries", len(delivery_ids))


def due_delivery_ids(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Pending deliveries whose attempt is due and that no worker is sending."""
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            Q(locked_until__isnull=True) | Q(locked_until__lt=now),
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=now - SWEEP_GRACE,
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def retry_now(*, delivery: WebhookDelivery) -> None:
    """Staff's "send again": the delivery is due now (one more attempt if it had given up)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(
        status=WebhookDelivery.Status.DELIVERED
    ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now())
    transaction.on_commit(lambda: queue_deliveries([delivery.pk]))


def delete_finished(*, now: datetime | None = None) -> int:
    """Delete events older than the retention whose deliveries are all finished."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(
        deliveries__status=WebhookDelivery.Status.PENDING
    )
    deleted, _by_model = WebhookEvent.objects.filter(pk__in=old.values("pk")).delete()
    return deleted
