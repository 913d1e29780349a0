"""An integrator sets up a site and its terminal through the API; the vendor's webhook is
verified, applied once and refused when stale, forged or replayed."""

import json
import time

import pytest

from invoicing.api.terminals import signature
from invoicing.terminals.models import TerminalTransaction
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key

pytestmark = pytest.mark.django_db

LOCATION = {
    "id": "LOC-KIEL",
    "name": "Hafen Kiel",
    "address": "Hafenstr. 1",
    "city": "Kiel",
    "postal_code": "24103",
    "country": "DEU",
    "time_zone": "Europe/Berlin",
    "evses": [{"uid": "1", "evse_id": "DE*VOL*E0001*1"}, {"uid": "2", "evse_id": "DE*VOL*E0001*2"}],
}
AUTH = {
    "id": "A1",
    "kind": "authorization",
    "amount": "50.00",
    "currency": "EUR",
    "at": "2026-03-02T12:59:00+01:00",
}


@pytest.fixture
def api(client, operator):
    api = Api(client, make_key(make_integrator(operator)))
    assert api.post("/api/v1/locations/", LOCATION).status_code == 201
    terminal = {
        "terminal_id": "T-1",
        "vendor": "acme",
        "evse_ids": ["DE*VOL*E0001*1", "DE*VOL*E0001*2"],
        "time_zone": "Europe/Berlin",
    }
    response = api.post("/api/v1/terminals/", terminal)
    assert response.status_code == 201, response.content
    return api


def test_a_site_and_its_pay_station_are_set_up_through_the_api(api):
    assert api.post("/api/v1/locations/", LOCATION).status_code == 200
    assert api.get("/api/v1/terminals/T-1/").json()["evse_ids"] == [
        "DE*VOL*E0001*1",
        "DE*VOL*E0001*2",
    ]
    refused = api.post(
        "/api/v1/terminals/",
        {
            "terminal_id": "T-2",
            "vendor": "acme",
            "evse_ids": ["DE*NOPE*1"],
            "time_zone": "Mars/Base",
        },
    )
    assert refused.status_code == 400
    assert "Unknown EVSE: DE*NOPE*1." in str(refused.json())
    assert "An IANA time zone" in str(refused.json())


def test_transactions_in_single_and_bulk_with_field_errors_and_idempotent_repeats(api):
    assert (
        api.post("/api/v1/terminal-transactions/", dict(AUTH, terminal_id="T-1")).status_code == 201
    )
    assert (
        api.post("/api/v1/terminal-transactions/", dict(AUTH, terminal_id="T-1")).status_code == 200
    )
    bad = api.post(
        "/api/v1/terminal-transactions/bulk/",
        {
            "transactions": [
                {
                    "id": "C1",
                    "terminal_id": "T-1",
                    "kind": "capture",
                    "amount": "x",
                    "currency": "EUR",
                    "at": "2026-03-02T14:02:31+01:00",
                    "authorization_id": "A1",
                },
            ]
        },
    )
    assert bad.status_code == 400 and "0.amount" in str(bad.json())
    unknown = api.post("/api/v1/terminal-transactions/", dict(AUTH, id="A2", terminal_id="T-9"))
    assert unknown.status_code == 400 and "Unknown terminal" in str(unknown.json())
    assert TerminalTransaction.objects.count() == 1


def signed(client, body, secret="s3cret", at=None, vendor="acme"):  # noqa: S107
    raw = json.dumps(body).encode()
    stamp = str(int(at or time.time()))
    return client.post(
        f"/api/v1/terminal-webhooks/{vendor}/",
        data=raw,
        content_type="application/json",
        headers={"X-Terminal-Signature": f"t={stamp},v1={signature(secret, stamp, raw)}"},
    )


def test_the_vendor_webhook_is_verified_and_applied_once(api, client, settings):
    settings.CPO_TERMINAL_WEBHOOK_SECRETS = {"acme": "s3cret"}
    body = {"event_id": "evt-1", "terminal_id": "T-1", "transactions": [AUTH]}
    assert signed(client, body, secret="guess").status_code == 401
    assert signed(client, body, at=time.time() - 3600).status_code == 401
    assert signed(client, body).json() == {"status": "received", "created": 1}
    assert signed(client, body).json() == {"status": "already handled"}
    assert TerminalTransaction.objects.get().source == "webhook"
