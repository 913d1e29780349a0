"""A fake Stripe API on 127.0.0.1 for tests: the few endpoints our provider calls through the
real `stripe` client (create and retrieve a Checkout Session, create a refund), and webhook
events signed the way Stripe signs them (Stripe-Signature: t=<time>,v1=<HMAC-SHA256>)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

WEBHOOK_SECRET = "whsec_test_fake"
SECRET_KEY = "sk_test_fake"


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for this payload."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(kind: str, obj: dict, event_id: str | None = None) -> str:
    """A webhook event's JSON body as Stripe sends it."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "data": {"object": obj},
        }
    )


class FakeStripe:
    """Stripe's API as far as we use it; `requests` lists what the SDK sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.sessions: dict[str, dict] = {}
        self.refunds: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:12]}")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.requests.append(("GET", self.path, {}))
                if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                    return self._answer(401, {"error": {"message": "Invalid API key"}})
                session = fake.sessions.get(self.path.rsplit("/", 1)[-1])
                if self.path.startswith("/v1/checkout/sessions/") and session:
                    return self._answer(200, session)
                return self._answer(404, {"error": {"message": "No such object"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(("POST", self.path, params))
                if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                    return self._answer(401, {"error": {"message": "Invalid API key"}})
                if self.path == "/v1/checkout/sessions":
                    return self._answer(200, fake.create_session(params))
                if self.path == "/v1/refunds":
                    return self._answer(200, fake.create_refund(params))
                return self._answer(404, {"error": {"message": f"No route {self.path}"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripe:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def create_session(self, params: dict) -> dict:
        session_id = f"cs_test_{uuid.uuid4().hex[:24]}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{self.url}/c/pay/{session_id}",
            "mode": params["mode"],
            "amount_total": int(params["line_items[0][price_data][unit_amount]"]),
            "currency": params["line_items[0][price_data][currency]"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": {
                key[len("metadata[") : -1]: value
                for key, value in params.items()
                if key.startswith("metadata[")
            },
            "payment_intent": f"pi_{uuid.uuid4().hex[:24]}",
            "payment_status": "unpaid",
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
        }
        self.sessions[session_id] = session
        return session

    def create_refund(self, params: dict) -> dict:
        refund = {
            "id": f"re_{uuid.uuid4().hex[:24]}",
            "object": "refund",
            "amount": int(params["amount"]),
            "currency": "eur",
            "payment_intent": params["payment_intent"],
            "status": "succeeded",
        }
        self.refunds.append(refund)
        return refund

    def completed(self, session_id: str) -> dict:
        """The session as Stripe reports it once the driver paid."""
        session = self.sessions[session_id]
        session.update(payment_status="paid", status="complete")
        return dict(session)
