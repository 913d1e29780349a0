"""Schemathesis against the OpenAPI schema: every operation, 50 generated requests each.

The requests go through the WSGI application in this process (same database transaction as
the test), with a write key of an operator that has customers, tokens, tariffs, sessions, a
document with its PDF and a billing run, so generated ids sometimes hit real objects. The
rule under test: no request, however odd, gets a server error; and every answer has the
documented status, content type and shape.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cpo_portal.wsgi import application
from tests.cpo_portal.kernel.api.matrix import build_world
from tests.cpo_portal.kernel.api.support import make_key

pytestmark = pytest.mark.schemathesis

EXAMPLES_PER_OPERATION = 50


@pytest.fixture
def api_schema(db):
    # Each WSGI request starts and finishes with close_old_connections, which closes the
    # database connection here (no persistent connections): that would end the test's
    # transaction. Django's test client disconnects the same handler for the same reason.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def write_key(operator, integrator):
    build_world(operator)
    return make_key(integrator, requests_per_minute=1_000_000)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case, write_key):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {write_key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
