"""Every integrator endpoint tried by everyone who must not get in: none may see or change
another operator's data (the authorization matrix of the integrator API)."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from cpo_portal.kernel.integrations.keys import create_api_key, revoke_api_key
from invoicing.models import ApiKey
from tests.cpo_portal.kernel.api.matrix import Endpoint, World, build_world, endpoints, expired_key
from tests.cpo_portal.kernel.api.support import Api, make_key


@pytest.fixture
def world(operator) -> World:
    return build_world(operator)


def call(api: Api, endpoint: Endpoint, world: World):
    url = endpoint.url(world)
    if endpoint.multipart:
        files = {
            name: SimpleUploadedFile(f"{name}.xml", text.encode())
            for name, text in endpoint.body.items()
        }
        response = api.client.post(url, data=files, headers=api.headers())
    elif endpoint.writes:
        response = api.send(endpoint.method, url, endpoint.body)
    else:
        response = api.get(url)
    if response.streaming:
        # A PDF: reading it to the end also closes the file (the test client sees to it).
        response.body = b"".join(response.streaming_content)
    else:
        response.body = response.content
    return response


def assert_no_leak(response, world: World, who: str, endpoint: Endpoint) -> None:
    content = response.body
    assert not content.startswith(b"%PDF"), (who, endpoint)
    asked = json.dumps(endpoint.body) + endpoint.url(world)
    for secret in world.secrets:
        if secret in asked:
            continue  # an error message may quote what the caller sent
        assert secret.encode() not in content, (who, endpoint, secret)


def test_the_matrix_covers_every_operation_of_the_schema(anonymous_api, world):
    schema = anonymous_api.get("/api/v1/schema/", Accept="application/vnd.oai.openapi+json")
    documented = {
        (method.upper(), path)
        for path, operations in json.loads(schema.content)["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }

    covered = {(e.method, e.schema_path()) for e in endpoints(world)}

    assert documented == covered


def test_the_owners_own_write_key_gets_through_everywhere(client, integrator, world):
    # The matrix's bodies are valid: any refusal below comes from who is asking, not from them.
    api = Api(client, make_key(integrator, ApiKey.Scope.WRITE))
    for endpoint in endpoints(world):
        response = call(api, endpoint, world)
        assert response.status_code < 300, (endpoint, response.body[:300])


@pytest.mark.parametrize("who", ["no key", "revoked key", "expired key", "malformed key"])
def test_callers_without_a_valid_key_get_nothing_and_change_nothing(who, client, integrator, world):
    key = {
        "no key": None,
        "revoked key": lambda: revoke_and_return(integrator),
        "expired key": lambda: expired_key(integrator),
        "malformed key": lambda: "cpo_nope",
    }[who]
    api = Api(client, key() if callable(key) else key)
    before = world.snapshot()

    for endpoint in endpoints(world):
        response = call(api, endpoint, world)
        expected = {401, 403} if endpoint.path.startswith("authorizations/") else {401}
        assert response.status_code in expected, (who, endpoint, response.status_code)
        assert_no_leak(response, world, who, endpoint)

    assert world.snapshot() == before


def revoke_and_return(integrator) -> str:
    new = create_api_key(integrator=integrator, name="revoked", scope=ApiKey.Scope.WRITE)
    revoke_api_key(api_key=new.api_key)
    return new.plaintext


def test_a_read_only_key_may_not_write_anywhere(client, integrator, world):
    api = Api(client, make_key(integrator, ApiKey.Scope.READ))
    before = world.snapshot()

    for endpoint in endpoints(world):
        if endpoint.writes:
            response = call(api, endpoint, world)
            assert response.status_code == 403, (endpoint, response.status_code)
            assert_no_leak(response, world, "read-only key", endpoint)
        else:
            assert call(api, endpoint, world).status_code == 200, endpoint

    assert world.snapshot() == before


def test_another_operators_key_neither_sees_nor_touches_the_objects(other_api, world):
    before = world.snapshot()

    for endpoint in endpoints(world):
        response = call(other_api, endpoint, world)
        if endpoint.names_an_object and not endpoint.path.startswith("tariffs/"):
            assert response.status_code == 404, (endpoint, response.status_code)
        else:
            # Lists show only the caller's own objects; a tariff id or a new object lives in
            # the caller's own namespace; references to A's customers or EVSEs are unknown.
            assert response.status_code < 500, (endpoint, response.status_code)
        assert_no_leak(response, world, "another operator's key", endpoint)

    assert world.snapshot() == before
