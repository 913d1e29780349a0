"""Careless and hostile input gets a 400 naming the field, in JSON, on every endpoint; never a 500.

One table: each hostile value (1e400, 30 February, an offset of 99 hours, the first and the last
year at the edge of a time zone, a lone UTF-16 surrogate, JSON nested 400 deep) is sent in a
field of each endpoint that takes such a value. Bulk requests judge each item on its own.
"""

from __future__ import annotations

import json

import pytest

from sessions.models import ChargingSession, Tariff
from sessions.pricing import limits
from tests.factories import CustomerFactory
from tests.invoicing.helpers import helper_evse, helper_tariff, issue_invoice_for

MARK = "@@hostile@@"
HOSTILE = {
    "number_1e400": ("number", "1e400"),
    "february_30": ("time", '"2026-02-30T10:00:00+01:00"'),
    "offset_of_99_hours": ("time", '"2026-03-02T10:00:00+99:00"'),
    "year_1_at_utc_plus_1": ("time", '"0001-01-01T00:30:00+01:00"'),
    "year_9999_at_utc_minus_1": ("time", '"9999-12-31T23:30:00-01:00"'),
    "lone_surrogate": ("text", '"\\ud800"'),
    "nested_400_deep": ("text", "[" * 400 + "]" * 400),
}


def native(ctx, **fields):
    return {
        "source_id": "TX-1",
        "evse_id": ctx["evse"].evse_id,
        "tariff_id": ctx["tariff"].ocpi_id,
        "start": "2026-03-02T10:00:00+01:00",
        "end": "2026-03-02T11:00:00+01:00",
        "energy_kwh": "10.5",
        **fields,
    }


def cdr(ctx, volume="10.5", **fields):
    return {
        "id": "CDR-1",
        "start_date_time": "2026-03-02T09:00:00Z",
        "end_date_time": "2026-03-02T10:00:00Z",
        "cdr_location": {"evse_id": ctx["evse"].evse_id},
        "charging_periods": [
            {
                "start_date_time": "2026-03-02T09:00:00Z",
                "tariff_id": ctx["tariff"].ocpi_id,
                "dimensions": [{"type": "ENERGY", "volume": volume}],
            }
        ],
        **fields,
    }


def tariff(price=0.4, **fields):
    return {
        "id": "T-9",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": price, "step_size": 1}]}],
        **fields,
    }


# endpoint: (url, {kind: (body with MARK in that field, the field's name in the answer)})
ENDPOINTS = {
    "sessions": lambda ctx: (
        "/api/v1/sessions/",
        {
            "number": (native(ctx, energy_kwh=MARK), "energy_kwh"),
            "time": (native(ctx, start=MARK), "start"),
            "text": (native(ctx, source_id=MARK), "source_id"),
        },
    ),
    "sessions_cdr": lambda ctx: (
        "/api/v1/sessions/cdrs/",
        {
            "number": (cdr(ctx, volume=MARK), "charging_periods[0].dimensions[0].volume"),
            "time": (cdr(ctx, start_date_time=MARK), "start_date_time"),
            "text": (cdr(ctx, id=MARK), "id"),
        },
    ),
    "sessions_bulk": lambda ctx: (
        "/api/v1/sessions/bulk/",
        {
            "number": (
                {"sessions": [native(ctx, energy_kwh=MARK)]},
                "sessions[0].energy_kwh",
            ),
            "time": ({"sessions": [native(ctx, start=MARK)]}, "start"),
            "text": ({"sessions": [native(ctx, source_id=MARK)]}, "sessions[0].source_id"),
        },
    ),
    "sessions_bulk_cdr": lambda ctx: (
        "/api/v1/sessions/bulk/",
        {
            "number": (
                {"format": "ocpi_cdr", "sessions": [cdr(ctx, volume=MARK)]},
                "sessions[0].charging_periods[0].dimensions[0].volume",
            ),
            "time": (
                {"format": "ocpi_cdr", "sessions": [cdr(ctx, end_date_time=MARK)]},
                "end_date_time",
            ),
            "text": ({"format": "ocpi_cdr", "sessions": [cdr(ctx, id=MARK)]}, "sessions[0].id"),
        },
    ),
    "tariffs": lambda ctx: (
        "/api/v1/tariffs/",
        {
            "number": (tariff(price=MARK), "elements[0].price_components[0].price"),
            "time": (tariff(start_date_time=MARK), "start_date_time"),
            "text": (tariff(id=MARK), "id"),
        },
    ),
    "customers": lambda ctx: (
        "/api/v1/customers/",
        {
            "number": ({"kind": "individual", "name": "Ada", "postal_code": MARK}, "postal_code"),
            "text": ({"kind": "individual", "name": MARK}, "name"),
        },
    ),
    "tokens": lambda ctx: (
        "/api/v1/tokens/",
        {
            "number": ({"customer": MARK, "kind": "rfid", "uid": "04AB"}, "customer"),
            "text": ({"customer": ctx["customer"].pk, "kind": "rfid", "uid": MARK}, "uid"),
        },
    ),
    "payments": lambda ctx: (
        f"/api/v1/invoices/{ctx['invoice'].pk}/payments/",
        {
            "number": ({"amount": MARK, "paid_on": "2026-03-10", "method": "card"}, "amount"),
            "time": ({"amount": "1.00", "paid_on": MARK, "method": "card"}, "paid_on"),
            "text": ({"amount": "1.00", "paid_on": "2026-03-10", "method": MARK}, "method"),
        },
    ),
}
KINDS = {
    "sessions": ("number", "time", "text"),
    "sessions_cdr": ("number", "time", "text"),
    "sessions_bulk": ("number", "time", "text"),
    "sessions_bulk_cdr": ("number", "time", "text"),
    "tariffs": ("number", "time", "text"),
    "customers": ("number", "text"),
    "tokens": ("number", "text"),
    "payments": ("number", "time", "text"),
}
CASES = [
    pytest.param(endpoint, payload, id=f"{endpoint}-{payload}")
    for endpoint, kinds in KINDS.items()
    for payload, (kind, _raw) in HOSTILE.items()
    if kind in kinds
]


@pytest.fixture
def ctx(request, operator):
    context = {
        "evse": helper_evse(operator),
        "tariff": helper_tariff(operator),
        "customer": CustomerFactory(operator=operator),
    }
    if "payments" in request.node.name:
        per_session = CustomerFactory(
            operator=operator, requires_invoice=True, billing_mode="per_session"
        )
        context["invoice"] = issue_invoice_for(per_session)
    return context


@pytest.mark.bad_input
@pytest.mark.parametrize(("endpoint", "payload"), CASES)
def test_hostile_input_is_a_400_naming_the_field(api, ctx, endpoint, payload):
    kind, raw = HOSTILE[payload]
    url, bodies = ENDPOINTS[endpoint](ctx)
    body, field = bodies[kind]
    sessions_before = ChargingSession.objects.count()

    response = api.send("POST", url, raw=json.dumps(body).replace(f'"{MARK}"', raw).encode())

    assert response["Content-Type"] == "application/json"
    answer = response.json()
    if endpoint.startswith("sessions_bulk") and kind == "time":
        # The body is JSON the parser takes: the item is judged on its own (docs/api.md).
        assert response.status_code == 200, answer
        (result,) = answer["results"]
        assert (result["status"], list(result["errors"])) == ("rejected", [field]), answer
    else:
        assert response.status_code == 400, answer
        assert any(key.startswith(field) for key in answer), answer
        assert all(isinstance(messages, list) and messages for messages in answer.values())
    assert ChargingSession.objects.count() == sessions_before
    assert not Tariff.objects.filter(ocpi_id="T-9").exists()


@pytest.mark.bad_input
def test_a_bulk_of_999_good_sessions_and_one_impossible_date_stores_the_999(api, ctx):
    sessions = [native(ctx, source_id=f"TX-{i}") for i in range(1000)]
    sessions[500]["end"] = "2026-02-30T11:00:00+01:00"

    response = api.post("/api/v1/sessions/bulk/", {"format": "native", "sessions": sessions})

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (999, 0, 1)
    assert body["results"][500] == {
        "index": 500,
        "source_id": "TX-500",
        "status": "rejected",
        "session_id": None,
        "errors": {"end": ["Must be an ISO 8601 date-time, e.g. 2026-03-01T18:30:00Z."]},
    }
    assert ChargingSession.objects.count() == 999
    assert not ChargingSession.objects.filter(source_id="TX-500").exists()


@pytest.mark.bad_input
def test_limits_are_refused_through_the_api_naming_them(api, ctx):
    element = {"price_components": [{"type": "ENERGY", "price": 0.4, "step_size": 1}]}
    too_many_elements = api.post("/api/v1/tariffs/", tariff(elements=[element] * 101))
    poison = api.post(
        "/api/v1/tariffs/",
        tariff(
            elements=[
                {
                    "price_components": [{"type": "ENERGY", "price": 0.4, "step_size": 1}],
                    "restrictions": {"min_duration": 10**14},
                }
            ]
        ),
    )
    too_long = api.post(
        "/api/v1/sessions/", native(ctx, end="2026-04-03T10:00:01+01:00", source_id="LONG")
    )
    periods = cdr(ctx)["charging_periods"] * (limits.MAX_CHARGING_PERIODS + 1)
    too_many_periods = api.post("/api/v1/sessions/cdrs/", cdr(ctx, charging_periods=periods))
    nested = {"kind": "individual", "name": "A", "extra": json.loads("[" * 40 + "]" * 40)}
    too_deep = api.post("/api/v1/customers/", nested)
    too_many_items = api.post("/api/v1/sessions/bulk/", {"sessions": [{}] * 1001})

    assert too_many_elements.status_code == 400
    assert too_many_elements.json() == {
        "elements": ["at most 100 tariff elements (limit), got 101"]
    }
    assert poison.json() == {
        "elements[0].restrictions.min_duration": [
            "must be at most 2678400 (seconds) (limit), got 100000000000000"
        ]
    }
    assert too_long.json() == {"end": ["A session lasts at most 31 days (limit)."]}
    assert too_many_periods.json() == {
        "charging_periods": ["at most 1000 charging periods (limit), got 1001"]
    }
    assert too_deep.status_code == 400
    ((path, messages),) = too_deep.json().items()
    assert path.startswith("extra[0][0][0]")
    assert messages == ["JSON nested deeper than 32 levels (limit)."]
    assert too_many_items.json() == {
        "sessions": ["Ensure this field has no more than 1000 elements."]
    }
    assert not Tariff.objects.filter(ocpi_id="T-9").exists()
    assert not ChargingSession.objects.exists()
