"""Limits on guessing passwords: sign-in lockout (django-axes) and password-reset e-mails.

The admin and the portal sign-ins share the lockout (settings AXES_*, docs/operations.md);
the portal's reset form asks `reset_email_allowed` before it sends anything.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render

from .ratelimit import client_ip, counted, fingerprint


def sign_in_name(request: HttpRequest, credentials: dict | None) -> str:
    """Who a sign-in tries to be: the admin's username or the portal's e-mail, case-folded."""
    credentials = credentials or {}
    name = credentials.get("username") or credentials.get("email")
    if name is None and request is not None:
        name = request.POST.get("username") or request.POST.get("email")
    return str(name or "").strip().casefold()


class SignInLockoutBackend(AxesStandaloneBackend):
    """Refuses sign-ins of a locked-out name and address (first in AUTHENTICATION_BACKENDS).

    Sign-ins through a page always carry the request; code that authenticates without one
    (management commands, the test client's login()) is not a guess from the outside.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """429 with a page saying how long to wait; the same for a right and a wrong password."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "locked_out.html", {"minutes": minutes}, status=429)


def reset_email_allowed(request: HttpRequest | None, email: str) -> bool:
    """At most PASSWORD_RESET_PER_ADDRESS reset e-mails per address and hour, and
    PASSWORD_RESET_PER_CLIENT requests per client address and hour."""
    address_ok, _wait = counted(
        f"reset-email:{fingerprint(email)}",
        limit=settings.PASSWORD_RESET_PER_ADDRESS,
        window=3600,
    )
    client_ok = True
    if request is not None:
        client_ok, _wait = counted(
            f"reset-client:{client_ip(request)}",
            limit=settings.PASSWORD_RESET_PER_CLIENT,
            window=3600,
        )
    return address_ok and client_ok
