"""Tariffs in OCPI 2.2.1 JSON: created, replaced and read with every number exact."""

from __future__ import annotations

import json

from sessions.models import Tariff
from tests.cpo_portal.kernel.api.support import Api

TARIFFS = "/api/v1/tariffs/"
TARIFF = (
    '{"country_code":"DE","party_id":"VWY","id":"AC-1","currency":"EUR","elements":['
    '{"price_components":[{"type":"ENERGY","price":0.123456789012345678,"vat":19.0,'
    '"step_size":1}]}],"last_updated":"2026-01-01T00:00:00Z"}'
)


def post_raw(api: Api, path: str, text: str, method: str = "POST"):
    return api.send(method, path, raw=text.encode())


def test_a_new_tariff_is_created_and_read_back_with_exact_numbers(api, operator):
    created = post_raw(api, TARIFFS, TARIFF)

    assert created.status_code == 201, created.content
    read = api.get(f"{TARIFFS}AC-1/")
    assert read.status_code == 200
    assert b'"price":0.123456789012345678' in read.content
    assert json.loads(read.content)["id"] == "AC-1"
    assert Tariff.objects.get(operator=operator, ocpi_id="AC-1").currency == "EUR"


def test_posting_a_known_id_replaces_the_tariff(api):
    post_raw(api, TARIFFS, TARIFF)

    replaced = post_raw(api, TARIFFS, TARIFF.replace("0.123456789012345678", "0.55"))

    assert replaced.status_code == 200
    assert replaced.json()["elements"][0]["price_components"][0]["price"] == 0.55
    assert Tariff.objects.count() == 1


def test_put_replaces_the_tariff_named_in_the_url_only(api):
    created = post_raw(api, f"{TARIFFS}AC-1/", TARIFF, method="PUT")
    mismatch = post_raw(api, f"{TARIFFS}AC-2/", TARIFF, method="PUT")

    assert created.status_code == 201
    assert (mismatch.status_code, mismatch.json()) == (
        400,
        {"id": ["Must be the tariff id in the URL."]},
    )


def test_an_invalid_tariff_names_the_field_and_stores_nothing(api):
    response = post_raw(api, TARIFFS, TARIFF.replace('"currency":"EUR"', '"currency":"euro"'))

    assert response.status_code == 400
    assert list(response.json()) == ["currency"]
    assert not Tariff.objects.exists()


def test_broken_json_is_a_400(api):
    response = post_raw(api, TARIFFS, '{"id": "AC-1", "currency": ')

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_the_list_shows_only_the_operators_tariffs(api, other_api):
    post_raw(api, TARIFFS, TARIFF)
    post_raw(other_api, TARIFFS, TARIFF.replace("AC-1", "THEIRS"))

    assert [t["id"] for t in api.get(TARIFFS).json()["results"]] == ["AC-1"]
    assert api.get(f"{TARIFFS}THEIRS/").status_code == 404
