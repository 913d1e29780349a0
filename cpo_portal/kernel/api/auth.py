"""Who calls the integrator API: API-key authentication, read/write scopes, a throttle per key.

A leaf module (no import of DRF's views): the REST_FRAMEWORK setting names these classes, and
DRF loads them while its own views module is still being imported.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import SimpleRateThrottle

from cpo_portal.kernel.integrations.keys import ApiKeyError, authenticate_key
from cpo_portal.kernel.integrations.models import ApiKey, Integrator
from cpo_portal.kernel.ratelimit import counted
from cpo_portal.kernel.tenancy import Operator


class IntegratorPrincipal:
    """`request.user` of an API-key request: an integrator, never a Django user or staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.integrator: Integrator = api_key.integrator
        self.operator: Operator = api_key.integrator.operator

    def __str__(self) -> str:
        return f"integrator {self.integrator.name}"

    def has_perm(self, perm: str, obj=None) -> bool:
        # Integrators hold scopes, not Django permissions; staff views stay closed to them.
        return False

    def has_perms(self, perms, obj=None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False


# Query parameters that clients put keys in; such a request is refused, never authenticated.
QUERY_STRING_KEY_NAMES = ("api_key", "apikey", "api-key", "access_token")


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` or `X-API-Key: <key>`; revoked or expired keys get 401."""

    def authenticate(self, request):
        if any(name in request.query_params for name in QUERY_STRING_KEY_NAMES):
            # Refused even when valid: URLs are written to access logs, proxies and histories.
            raise exceptions.AuthenticationFailed(
                "API keys are not accepted in the URL (it ends up in access logs): send the "
                "key in the Authorization: Bearer <key> header, or X-API-Key. A key that was "
                "sent in a URL should be revoked and replaced."
            )
        plaintext = request.headers.get("X-API-Key", "").strip()
        if not plaintext:
            scheme, _space, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None  # no key at all, or another scheme for another authenticator
            plaintext = credentials.strip()
        if not plaintext:
            raise exceptions.AuthenticationFailed("The API key is empty.")
        try:
            api_key = authenticate_key(plaintext)
        except ApiKeyError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return IntegratorPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScope(BasePermission):
    """Any valid key reads; writes need a key with the write scope."""

    message = "This API key is read-only; writing needs a key with the write scope."

    def has_permission(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        return request.method in SAFE_METHODS or api_key.scope == ApiKey.Scope.WRITE


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per minute per key: the key's own limit, else the API_KEY_RATE setting.

    Counted with an atomic increment in the cache (cpo_portal.kernel.ratelimit): DRF's own history
    list is read, changed and written back, so concurrent requests all passed on one reading.
    """

    scope = "api_key"

    def __init__(self):
        # The rate depends on the key, so it is read per request in allow_request.
        self.retry_after = None

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        rate = (
            f"{api_key.requests_per_minute}/min"
            if api_key.requests_per_minute
            else settings.API_KEY_RATE
        )
        limit, window = self.parse_rate(rate)
        allowed, self.retry_after = counted(
            f"throttle:{self.scope}:{api_key.pk}", limit=limit, window=window
        )
        return allowed

    def wait(self) -> float | None:
        return self.retry_after
