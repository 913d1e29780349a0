"""Figure 5: schemathesis, 200 examples per operation and every check: 0 server errors, 0 schema
violations.

The world, key and WSGI transport of kernel/api/test_schemathesis.py (which CI runs with 50
fixed-seed examples and the four core checks). Here each generated request is checked by every
check schemathesis registers. Server errors and schema violations (status code, content type,
headers, body shape) fail the figure; what the other checks find (a schema-valid request
refused by a business rule, an invalid one accepted leniently) is counted and printed, since
it is about the schema's precision, not about what the server answers.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, settings
from psycopg.pq import TransactionStatus
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.cpo_portal.kernel.api.test_schemathesis import api_schema, schema, write_key  # noqa: F401 - fixtures
from tests.reliability.common import report

pytestmark = pytest.mark.postgres

EXAMPLES = int(os.environ.get("RELIABILITY_SCHEMATHESIS_EXAMPLES", "200"))
SERVER = [not_a_server_error]
SCHEMA = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FOUND: Counter = Counter()
OPERATIONS: set[str] = set()


def other_checks() -> list:
    load_all_checks()
    core = {c.__name__ for c in SERVER + SCHEMA}
    return [c for c in REGISTERED_CHECKS.get_all() if c.__name__ not in core]


@pytest.fixture(scope="module", autouse=True)
def _figure():
    yield
    others = ", ".join(f"{title} x{n}" for title, n in sorted(FOUND.items()) if title[0] != "!")
    report(
        f"schemathesis: {len(OPERATIONS)} operations x {EXAMPLES} examples, all "
        f"{len(SERVER + SCHEMA + other_checks())} checks: {FOUND['!server']} server errors, "
        f"{FOUND['!schema']} schema violations; {FOUND['!database']} requests refused by "
        "PostgreSQL, answered 400" + (f" (other checks: {others})" if others else ""),
        ok=FOUND["!server"] == FOUND["!schema"] == 0 and bool(OPERATIONS),
        exit_on_bad=False,
    )


def failed(case, response, checks, key: str) -> list:
    try:
        case.validate_response(response, checks=checks, headers=HEADERS[0])
    except FailureGroup as group:
        for failure in group.exceptions:
            FOUND[key if key.startswith("!") else failure.title] += 1
        return list(group.exceptions)
    return []


HEADERS: list[dict] = [{}]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_or_an_undocumented_answer(case, write_key):  # noqa: F811
    HEADERS[0] = {"Authorization": f"Bearer {write_key}"}
    OPERATIONS.add(case.operation.label)
    # All requests share the test's transaction. A request whose query PostgreSQL refuses
    # (answered 400, DataError) would abort it for every later request, which autocommit
    # production never sees: each request gets a savepoint, rolled back only in that case.
    savepoint = transaction.savepoint()
    response = case.call(headers=HEADERS[0])
    if connection.connection.info.transaction_status == TransactionStatus.INERROR:
        transaction.savepoint_rollback(savepoint)
        FOUND["!database"] += 1
    else:
        transaction.savepoint_commit(savepoint)
    bad = failed(case, response, SERVER, "!server") + failed(case, response, SCHEMA, "!schema")
    failed(case, response, other_checks(), "other")
    assert not bad, bad
