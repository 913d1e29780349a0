"""The per-key throttle holds under concurrency; keys travel in headers, never in URLs."""

from __future__ import annotations

import os
import threading
import uuid
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from cpo_portal.kernel.api.auth import ApiKeyRateThrottle
from invoicing.models import ApiKey
from tests.cpo_portal.kernel.api.support import Api, make_key

CUSTOMERS = "/api/v1/customers/"
REDIS_URL = os.environ.get("CELERY_BROKER_URL", "")


def cache_backends():
    yield pytest.param(None, id="locmem")
    if REDIS_URL.startswith("redis://"):
        yield pytest.param(
            {
                "default": {
                    "BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": REDIS_URL,
                    # Its own keys only; the test never clears this database (the broker's).
                    "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",
                }
            },
            id="redis",
        )


@pytest.mark.parametrize("caches", cache_backends())
@pytest.mark.django_db
def test_concurrent_requests_never_pass_more_than_the_rate(integrator, settings, caches):
    if caches:
        settings.CACHES = caches
    key = ApiKey.objects.get(prefix=make_key(integrator, requests_per_minute=600).split("_")[1])
    request = SimpleNamespace(auth=key)
    passed = []
    start = threading.Barrier(30)

    def client():
        throttle_results = []
        start.wait()
        for _ in range(50):  # 30 clients x 50 requests = 1,500 at once
            throttle_results.append(ApiKeyRateThrottle().allow_request(request, None))
        passed.append(sum(throttle_results))

    threads = [threading.Thread(target=client) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(passed) == 600
    throttle = ApiKeyRateThrottle()
    assert not throttle.allow_request(request, None)
    assert 0 < throttle.wait() <= 61
    if caches:
        cache.delete_many(
            [
                f"ratelimit:throttle:api_key:{key.pk}:60",
                f"ratelimit:throttle:api_key:{key.pk}:60:start",
            ]
        )


@pytest.mark.parametrize("name", ["api_key", "apikey", "access_token"])
@pytest.mark.django_db
def test_a_key_in_the_query_string_is_refused_with_a_pointer_to_the_header(
    client, integrator, name
):
    key = make_key(integrator)

    response = client.get(CUSTOMERS, {name: key})
    with_header_too = Api(client, key).get(CUSTOMERS, {name: key})

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert with_header_too.status_code == 401
    assert Api(client, key).get(CUSTOMERS).status_code == 200
