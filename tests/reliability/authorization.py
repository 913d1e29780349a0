"""Figure 6: the authorization matrix, every endpoint x every caller who must not get in.

The cases and checks of the authorization-matrix test (tests/cpo_portal/kernel/api/), counted:
another operator's key, a revoked, an expired and a malformed key, no key, and a read-only
key on every write. A case is refused when the answer is the refusal the caller is owed
(401/403, or 404 for another operator's object), leaks none of the owner's secrets, and the
owner's data is unchanged afterwards.
"""

from __future__ import annotations

import pytest

from invoicing.models import ApiKey
from tests.cpo_portal.kernel.api.matrix import build_world, endpoints, expired_key
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.cpo_portal.kernel.api.test_authorization_matrix import call, revoke_and_return
from tests.reliability.common import report

pytestmark = pytest.mark.django_db


def leaks(response, world, endpoint) -> bool:
    content = response.body
    if content.startswith(b"%PDF"):
        return True
    asked = str(endpoint.body) + endpoint.url(world)
    return any(s.encode() in content for s in world.secrets if s not in asked)


def test_every_endpoint_refuses_everyone_who_must_not_get_in(client, operator, integrator):
    world = build_world(operator)
    other = make_integrator(make_other_operator(), "Other")
    callers = {
        "another operator": make_key(other, ApiKey.Scope.WRITE),
        "revoked key": revoke_and_return(integrator),
        "expired key": expired_key(integrator),
        "malformed key": "cpo_nope",
        "no key": None,
        "read-only key": make_key(integrator, ApiKey.Scope.READ),
    }
    cases = refused = 0
    failures = []
    for who, key in callers.items():
        api = Api(client, key)
        before = world.snapshot()
        outcomes = []
        for endpoint in endpoints(world):
            if who == "read-only key" and not endpoint.writes:
                continue  # reading is what a read-only key is for
            response = call(api, endpoint, world)
            status = response.status_code
            if who == "another operator":
                if endpoint.names_an_object and not endpoint.path.startswith("tariffs/"):
                    right = status == 404
                else:  # its own namespace: sees and makes only its own objects
                    right = status < 500
            elif who == "read-only key":
                right = status == 403
            elif endpoint.path.startswith("authorizations/"):
                right = status in (401, 403)
            else:
                right = status == 401
            outcomes.append((endpoint, right and not leaks(response, world, endpoint), status))
        unchanged = world.snapshot() == before
        for endpoint, ok, status in outcomes:
            cases += 1
            refused += ok and unchanged
            if not (ok and unchanged):
                failures.append((who, endpoint.method, endpoint.path, status))

    share = 100 * refused / cases
    report(
        f"authorization matrix: {len(endpoints(world))} endpoints x {len(callers)} callers, "
        f"{cases} cases: {refused} refused ({share:.0f} %)",
        ok=refused == cases,
        exit_on_bad=False,
    )
    assert not failures, failures


def make_other_operator():
    from tests.factories import OperatorFactory

    return OperatorFactory(name="Other CPO", legal_name="Other CPO Ltd")
