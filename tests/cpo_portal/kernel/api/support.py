"""Integrators, keys and a small JSON client for the API tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from cpo_portal.kernel.integrations.keys import create_api_key
from invoicing.models import ApiKey, Integrator
from tests.factories import CompanyCustomerFactory, CustomerFactory, OperatorFactory


@dataclass
class Api:
    """A JSON client that sends one integrator's key (or none) with every request."""

    client: Client
    key: str | None = None

    @staticmethod
    def body_of(body: Any) -> bytes:
        """The bytes `send` puts on the wire for this body."""
        return json.dumps(body).encode()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        headers.update(extra or {})
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None, **headers):
        return self.client.get(path, params or {}, headers=self.headers(headers))

    def send(self, method: str, path: str, body: Any = None, raw: bytes | None = None, **headers):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return getattr(self.client, method.lower())(
            path, data=data, content_type="application/json", headers=self.headers(headers)
        )

    def post(self, path: str, body: Any = None, **headers):
        return self.send("POST", path, body, **headers)

    def put(self, path: str, body: Any = None, **headers):
        return self.send("PUT", path, body, **headers)

    def patch(self, path: str, body: Any = None, **headers):
        return self.send("PATCH", path, body, **headers)


def make_integrator(operator, name: str = "ERP") -> Integrator:
    return Integrator.objects.create(
        operator=operator, name=name, session_source=f"api-{operator.pk}-{name.lower()}"
    )


def make_key(integrator: Integrator, scope: str = ApiKey.Scope.WRITE, **kwargs) -> str:
    return create_api_key(
        integrator=integrator, name=f"{scope} key", scope=scope, **kwargs
    ).plaintext


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in the cache; one test's requests must not slow the next one.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def integrator(operator) -> Integrator:
    return make_integrator(operator)


@pytest.fixture
def api(client, integrator) -> Api:
    """The operator's integrator with a read-and-write key."""
    return Api(client, make_key(integrator, ApiKey.Scope.WRITE))


@pytest.fixture
def read_api(client, integrator) -> Api:
    return Api(client, make_key(integrator, ApiKey.Scope.READ))


@pytest.fixture
def anonymous_api(client) -> Api:
    return Api(client, None)


@pytest.fixture
def other_operator(db):
    return OperatorFactory(name="Other CPO", legal_name="Other CPO Ltd")


@pytest.fixture
def other_api(client, other_operator) -> Api:
    """Another operator's integrator with a read-and-write key."""
    return Api(client, make_key(make_integrator(other_operator, "Other"), ApiKey.Scope.WRITE))


@pytest.fixture
def per_session_customer(operator):
    return CustomerFactory(operator=operator, requires_invoice=True, billing_mode="per_session")


@pytest.fixture
def monthly_company(operator):
    return CompanyCustomerFactory(operator=operator, billing_mode="monthly")
