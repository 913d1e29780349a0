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
    """Count one more event under `key` in the current window of `window` seconds.

    Returns (allowed, seconds until the window ends). Atomic: `add` creates the window's counter
    once and `incr` increases it in the cache itself.
    """
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{window}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # The counter expired between add and incr: this request opens the window again.
        cache.add(cache_key, 1, timeout=window + 1)
        count = 1
    return count <= limit, max(1, int((bucket + 1) * window - now) + 1)


def fingerprint(value: str) -> str:
    """A cache-key-safe digest of an e-mail address (the address itself is not stored)."""
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()[:32]
