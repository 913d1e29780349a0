"""API keys: hashed at rest, two ways to send, refused when revoked, expired or read-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cpo_portal.kernel.integrations.keys import (
    ApiKeyError,
    authenticate_key,
    create_api_key,
    hash_key,
    revoke_api_key,
)
from invoicing.models import ApiKey
from tests.cpo_portal.kernel.api.support import Api, make_key

CUSTOMERS = "/api/v1/customers/"


def test_a_key_is_shown_once_and_stored_only_as_its_sha256(integrator):
    new = create_api_key(integrator=integrator, name="ERP", scope=ApiKey.Scope.WRITE)

    stored = ApiKey.objects.get(pk=new.api_key.pk)
    assert new.plaintext.startswith(f"cpo_{stored.prefix}_")
    assert stored.secret_hash == hash_key(new.plaintext)
    assert new.plaintext not in {value for value in vars(stored).values() if isinstance(value, str)}
    assert authenticate_key(new.plaintext) == stored


def test_a_key_with_a_wrong_secret_but_a_right_prefix_is_unknown(integrator):
    new = create_api_key(integrator=integrator, name="ERP")
    forged = new.plaintext[:-4] + ("aaaa" if not new.plaintext.endswith("aaaa") else "bbbb")

    with pytest.raises(ApiKeyError, match="Unknown API key"):
        authenticate_key(forged)


def test_the_key_is_accepted_as_bearer_token_and_as_x_api_key(client, integrator):
    key = make_key(integrator)

    assert client.get(CUSTOMERS, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get(CUSTOMERS, headers={"X-API-Key": key}).status_code == 200


def test_no_key_is_401_with_a_bearer_challenge(anonymous_api):
    response = anonymous_api.get(CUSTOMERS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_key_is_refused_from_the_moment_it_is_revoked(client, integrator):
    new = create_api_key(integrator=integrator, name="ERP")
    api = Api(client, new.plaintext)
    assert api.get(CUSTOMERS).status_code == 200

    revoke_api_key(api_key=new.api_key)

    response = api.get(CUSTOMERS)
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "This API key was revoked."},
    )


def test_an_expired_key_is_refused(client, integrator):
    new = create_api_key(
        integrator=integrator, name="ERP", expires_at=timezone.now() + timedelta(minutes=5)
    )
    ApiKey.objects.filter(pk=new.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = Api(client, new.plaintext).get(CUSTOMERS)

    assert (response.status_code, response.json()) == (401, {"detail": "This API key has expired."})


def test_a_key_cannot_be_created_already_expired(integrator):
    with pytest.raises(ValueError, match="future"):
        create_api_key(integrator=integrator, name="x", expires_at=timezone.now())


def test_switching_the_integrator_off_disables_its_keys(client, integrator):
    api = Api(client, make_key(integrator))
    integrator.is_active = False
    integrator.save()

    assert api.get(CUSTOMERS).status_code == 401


def test_a_read_only_key_reads_but_may_not_write(read_api):
    assert read_api.get(CUSTOMERS).status_code == 200

    response = read_api.post(CUSTOMERS, {"kind": "individual", "name": "A", "email": "a@b.de"})

    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


def test_staff_sessions_do_not_open_the_integrator_api(client, admin_user):
    client.force_login(admin_user)

    assert client.get(CUSTOMERS).status_code == 401


def test_each_key_has_its_own_rate_limit(client, integrator):
    limited = Api(client, make_key(integrator, requests_per_minute=3))
    other = Api(client, make_key(integrator))

    statuses = [limited.get(CUSTOMERS).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert int(limited.get(CUSTOMERS)["Retry-After"]) > 0
    assert other.get(CUSTOMERS).status_code == 200


def test_use_is_recorded_at_most_once_a_minute(client, integrator):
    new = create_api_key(integrator=integrator, name="ERP")
    api = Api(client, new.plaintext)

    api.get(CUSTOMERS)
    first = ApiKey.objects.get(pk=new.api_key.pk).last_used_at
    api.get(CUSTOMERS)

    assert first is not None
    assert ApiKey.objects.get(pk=new.api_key.pk).last_used_at == first


def test_the_schema_and_docs_are_open_but_nothing_else(anonymous_api):
    assert anonymous_api.get("/api/v1/schema/").status_code == 200
    assert anonymous_api.get("/api/v1/docs/").status_code == 200
    assert anonymous_api.get("/api/v1/invoices/").status_code == 401
