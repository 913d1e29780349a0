"""A Twilio stand-in on 127.0.0.1: the Messages endpoint the SDK posts to, answering like
Twilio (a message resource, or an error with its status and code)."""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class FakeTwilio:
    server: ThreadingHTTPServer
    # (status, Twilio error code, message) answers queued before the normal 201s.
    errors: deque[tuple[int, int, str]] = field(default_factory=deque)
    sent: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_fake_twilio(account_sid: str, auth_token: str) -> FakeTwilio:
    fake: FakeTwilio
    expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.path != f"/2010-04-01/Accounts/{account_sid}/Messages.json":
                return self._answer(404, {"code": 20404, "message": "Not found", "status": 404})
            if self.headers.get("Authorization") != expected_auth:
                return self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if fake.errors:
                status, code, message = fake.errors.popleft()
                return self._answer(status, {"code": code, "message": message, "status": status})
            form = {key: values[0] for key, values in parse_qs(body).items()}
            sid = f"SM{len(fake.sent):032d}"
            fake.sent.append(form)
            self._answer(
                201,
                {
                    "sid": sid,
                    "account_sid": account_sid,
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "num_segments": "1",
                },
            )

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeTwilio(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake
