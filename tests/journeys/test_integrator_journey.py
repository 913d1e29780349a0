"""What docs/api.md promises an integrator, end to end on a real worker: send tariffs, customers
and sessions, start the month's billing run, pull the invoice with the breakdown the PDF shows,
record the payment, and receive every step as a signed webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cpo_portal.kernel.periods import previous_period, today_for
from invoicing.models import WebhookEndpoint
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.cpo_portal.kernel.integrations.receiver import start_receiver
from tests.invoicing.helpers import helper_evse

TARIFF = {
    "id": "AC-JOURNEY",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.39, "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": 6.0, "step_size": 60}]},
    ],
}
FLEET = {
    "kind": "company",
    "company_name": "Journey Fleet GmbH",
    "vat_id": "DE136695976",
    "street": "Hauptstraße 5",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "email": "billing@journey.example",
    "requires_invoice": True,
    "billing_mode": "monthly",
}


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, exactly as docs/api.md prints it."""
    timestamp = int(headers["webhook-timestamp"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, candidate)
        for candidate in headers["webhook-signature"].split()
    )


def eventually(check, timeout: float = 30):
    """Poll until `check()` returns something truthy (the worker runs in another thread)."""
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > end:
            return result
        time.sleep(0.2)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_integrator_ingests_bills_pulls_pays_and_hears_each_step(
    celery_worker_thread, client, operator, settings
):
    # The receiver listens on 127.0.0.1: loopback receives webhooks only when allowed.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver = start_receiver()
    try:
        integrator = make_integrator(operator)
        endpoint = WebhookEndpoint.objects.create(integrator=integrator, url=receiver.url)
        api = Api(client, make_key(integrator))
        evse = helper_evse(operator)

        assert api.post("/api/v1/tariffs/", TARIFF).status_code == 201
        fleet = api.post("/api/v1/customers/", FLEET).json()
        token = {"customer": fleet["id"], "kind": "rfid", "uid": "04JOURNEY"}
        assert api.post("/api/v1/tokens/", token).status_code == 201
        period = previous_period(today_for(operator))
        start = datetime(period.year, period.month, 4, 8, tzinfo=UTC)
        sessions = [
            {
                "source_id": f"J-{n}",
                "evse_id": evse.evse_id,
                "tariff_id": TARIFF["id"],
                "start": (start + timedelta(days=n)).isoformat(),
                "end": (start + timedelta(days=n, minutes=90)).isoformat(),
                "energy_kwh": "22.5",
                "idle_minutes": 15,
                "token_uid": "04JOURNEY",
            }
            for n in range(3)
        ]
        sent = api.post("/api/v1/sessions/bulk/", {"sessions": sessions}).json()
        assert sent["created"] == 3, sent

        run = api.post("/api/v1/billing-runs/", {"period": f"{period:%Y-%m}"})
        assert run.status_code == 202, run.json()

        def run_finished():
            body = api.get(f"/api/v1/billing-runs/{run.json()['id']}/").json()
            return body if body["status"] != "running" else None

        finished = eventually(run_finished)
        assert (finished["status"], finished["documents_issued"]) == ("completed", 1)

        (listed,) = api.get("/api/v1/invoices/", {"customer": fleet["id"]}).json()["results"]
        invoice = api.get(f"/api/v1/invoices/{listed['id']}/").json()
        session = api.get(f"/api/v1/sessions/{sent['results'][0]['session_id']}/").json()
        billed = next(s for s in invoice["sessions"] if s["id"] == session["id"])
        assert billed["breakdown"] == session["breakdown"]
        # The invoice's VAT is computed per rate on its summed nets (docs/invoicing.md), so
        # its nets add up to the sessions' nets; the gross may differ from their sum by cents.
        assert Decimal(invoice["total_net"]) == sum(
            Decimal(api.get(f"/api/v1/sessions/{r['session_id']}/").json()["total_net"])
            for r in sent["results"]
        )

        def rendered_pdf():
            response = api.get(f"/api/v1/invoices/{listed['id']}/pdf/")
            return response if response.status_code == 200 else None

        pdf = eventually(rendered_pdf)
        assert pdf and pdf["Content-Type"] == "application/pdf"
        assert b"".join(pdf.streaming_content if pdf.streaming else [pdf.content])[:5] == b"%PDF-"

        paid = api.post(
            f"/api/v1/invoices/{listed['id']}/payments/",
            {
                "amount": invoice["total_gross"],
                "paid_on": str(today_for(operator)),
                "method": "bank_transfer",
                "reference": invoice["number"],
            },
        )
        assert paid.status_code == 201, paid.json()

        received = receiver.wait_for(6, timeout=30)
        assert all(verify(endpoint.secret, r.headers, r.body) for r in received)
        events = [json.loads(r.body) for r in received]
        assert sorted(e["type"] for e in events) == [
            "invoice.issued",
            "invoice.paid",
            "payment.succeeded",
            "session.priced",
            "session.priced",
            "session.priced",
        ]
        by_type = {e["type"]: e["data"] for e in events}
        assert by_type["invoice.issued"]["number"] == invoice["number"]
        assert by_type["invoice.paid"]["status"] == "paid"
        paid = by_type["payment.succeeded"]
        assert (paid["amount"], paid["allocations"][0]["document_id"]) == (
            by_type["invoice.paid"]["total_gross"],
            by_type["invoice.paid"]["id"],
        )
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
