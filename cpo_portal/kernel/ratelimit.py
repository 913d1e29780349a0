"""Counted rate limits and the client's address, shared by the portal and the API.

Counters are atomic (`cache.add` + `cache.incr` on one key per time window), so concurrent
requests cannot all read the same old count and pass together; give every web process the same
cache in production (CACHE_URL), or each process counts on its own.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the address the trusted proxies saw.

    Behind TRUSTED_PROXY_COUNT reverse proxies, each appends the address it received from to
    X-Forwarded-For: the client is that many entries from the right (what a client writes
    itself at the left is not trusted).
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def counted(key: str, *, limit: int, window: int) -> tuple[bool, int]:
    """Count one more event under `key` in a window of `window` seconds from its first event.

    Returns (allowed, seconds until the window ends). Atomic where the cache's `add` and
    `incr` are (local memory, Redis, Memcached): `add` opens the window's counter once, with
    the window as its lifetime, and `incr` increases it inside the cache without changing it.
    """
    now = time.time()
    count_key, start_key = f"ratelimit:{key}:{window}", f"ratelimit:{key}:{window}:start"
    cache.add(start_key, now, timeout=window)
    cache.add(count_key, 0, timeout=window)
    try:
        count = cache.incr(count_key)
    except ValueError:
        # The window ended between add and incr: this event opens the next one.
        cache.add(count_key, 1, timeout=window)
        count = 1
    started = cache.get(start_key, now)
    return count <= limit, max(1, int(started + window - now) + 1)


def fingerprint(value: str) -> str:
    """A cache-key-safe digest of an e-mail address (the address itself is not stored)."""
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()[:32]
