"""Idempotency keys of API writes: a retried request gets the original response, never a twin.

The key is claimed in its own committed statement before the write runs, so a concurrent
duplicate finds it in flight (409); the response is stored with the write (same transaction for
successes), so a retry after a lost answer replays it; the same key with another request is
refused (422). Records live at least ``API_IDEMPOTENCY_TTL`` (24 h by default).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cpo_portal.kernel.errors import StateConflict
from cpo_portal.kernel.integrations.models import IdempotencyRecord, Integrator

# A request that crashed without answering frees its key after this long.
IN_FLIGHT_LOCK = timedelta(minutes=5)


def ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", 24))


class IdempotencyInFlight(StateConflict):
    """The same key is being processed by another request right now."""


class IdempotencyMismatch(Exception):
    """The key was used before for a different request (method, path or body)."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def request_hash(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\n", path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


def claim(
    *, integrator: Integrator, key: str, method: str, path: str, body: bytes
) -> IdempotencyRecord | StoredResponse:
    """Claim the key for this request, or return the stored response of its first run."""
    fingerprint = request_hash(method=method, path=path, body=body)
    now = timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    integrator=integrator,
                    key=key,
                    method=method,
                    path=path[:500],
                    request_hash=fingerprint,
                    locked_until=now + IN_FLIGHT_LOCK,
                )
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(integrator=integrator, key=key).first()
        if record is None:
            continue  # deleted meanwhile (expired or released): claim again
        if record.created_at < now - ttl():
            # Expired but not cleaned up yet: the key is free again.
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.request_hash != fingerprint:
            raise IdempotencyMismatch(
                "This Idempotency-Key was already used for a different request "
                f"({record.method} {record.path}); use a new key for a new request."
            )
        if record.state == IdempotencyRecord.State.COMPLETED:
            return StoredResponse(status=record.response_status, body=record.response_body)
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_until__lt=now
        ).update(locked_until=now + IN_FLIGHT_LOCK)
        if taken:
            return IdempotencyRecord.objects.get(pk=record.pk)
        raise IdempotencyInFlight(
            "A request with this Idempotency-Key is still being processed; retry later."
        )
    raise IdempotencyInFlight("The Idempotency-Key could not be claimed; retry later.")


def complete(*, record: IdempotencyRecord, status: int, body: str) -> None:
    """Store the response that retries with the same key will get."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_body=body,
        completed_at=timezone.now(),
        locked_until=None,
    )


def release(*, record: IdempotencyRecord) -> None:
    """Free the key after a server error, so that a retry runs the request again."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def delete_expired(*, now=None) -> int:
    """Delete records older than the retention (24 h by default); returns how many."""
    cutoff = (now or timezone.now()) - ttl()
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
