"""API keys of integrators: created once in plain text, stored hashed, revocable, expiring.

A key reads ``cpo_<prefix>_<secret>``: the prefix (public, unique) finds the row, the SHA-256 of
the whole key is compared in constant time. The secret has 256 bits of entropy, so a fast hash
is enough (there is nothing to brute-force); only someone holding the key learns whether it was
revoked or expired.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.integrations.models import ApiKey, Integrator

KEY_PREFIX = "cpo"
# Writing last_used_at on every request would turn every read into a write; once a minute is
# precise enough to see which keys are still in use.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiKeyError(DomainError):
    """The presented key is unknown, revoked or expired; the message says which."""


@dataclass(frozen=True)
class NewApiKey:
    """A freshly created key: the plain text exists only here, shown to its owner once."""

    api_key: ApiKey
    plaintext: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(
    *,
    integrator: Integrator,
    name: str,
    scope: str = ApiKey.Scope.READ,
    expires_at: datetime | None = None,
    requests_per_minute: int | None = None,
    created_by=None,
) -> NewApiKey:
    """Create a key and return its plain text once; only its SHA-256 is stored."""
    if scope not in ApiKey.Scope.values:
        raise ValueError(f"Unknown scope “{scope}”; use read or write.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("The expiry must lie in the future.")
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        integrator=integrator,
        name=name,
        prefix=prefix,
        secret_hash=hash_key(plaintext),
        scope=scope,
        expires_at=expires_at,
        requests_per_minute=requests_per_minute,
        created_by=created_by,
    )
    return NewApiKey(api_key=api_key, plaintext=plaintext)


def revoke_api_key(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good; requests with it are refused from now on."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    api_key.refresh_from_db()
    return api_key


def authenticate_key(plaintext: str, *, now: datetime | None = None) -> ApiKey:
    """The active key for this plain text, with its integrator and operator; else ApiKeyError."""
    now = now or timezone.now()
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise ApiKeyError("Malformed API key.")
    api_key = (
        ApiKey.objects.select_related("integrator__operator__invoicing_settings")
        .filter(prefix=parts[1])
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, hash_key(plaintext)):
        raise ApiKeyError("Unknown API key.")
    if api_key.revoked_at is not None:
        raise ApiKeyError("This API key was revoked.")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyError("This API key has expired.")
    if not api_key.integrator.is_active:
        raise ApiKeyError("This integrator is switched off.")
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
