"""Figure 4: 1,000 concurrent POSTs with one Idempotency-Key create one object.

A real gunicorn server (several worker processes) on 127.0.0.1, the scratch database behind
it; 1,000 client threads wait at a barrier, then each sends the same POST /api/v1/customers/
with the same key. Every answer must be the first answer (201, replayed) or "still being
processed" (409); exactly one customer exists afterwards, and no answer is a 5xx.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter

from tests.reliability.common import PORT, ROOT, n, report, setup_django

REQUESTS = int(os.environ.get("RELIABILITY_REQUESTS", "1000"))
WORKERS = 4
BODY = {"kind": "individual", "name": "Ada Idempotent", "email": "ada@idempotent.example"}


def post(key: str, start: threading.Barrier, answers: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=300)
    try:
        start.wait()
        connection.request(
            "POST",
            "/api/v1/customers/",
            body=json.dumps(BODY),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": "reliability-1",
            },
        )
        response = connection.getresponse()
        answers.append(
            (response.status, response.getheader("Idempotent-Replayed"), response.read())
        )
    except OSError as exc:
        answers.append((0, None, str(exc).encode()))
    finally:
        connection.close()


def main() -> None:
    setup_django()
    from django.db import connection

    from cpo_portal.kernel.integrations.keys import create_api_key
    from customers.models import Customer
    from invoicing.models import ApiKey, Integrator
    from tests.reliability.common import make_operator

    operator = make_operator("Idempotency CPO")
    integrator = Integrator.objects.create(
        operator=operator, name="ERP", session_source="api-reliability"
    )
    key = create_api_key(
        integrator=integrator,
        name="reliability",
        scope=ApiKey.Scope.WRITE,
        requests_per_minute=1_000_000,
    ).plaintext
    db = connection.settings_dict
    env = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "cpo_portal.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(WORKERS),
            "--backlog",
            "2048",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_up(server)
        answers: list = []
        start = threading.Barrier(REQUESTS)
        threads = [
            threading.Thread(target=post, args=(key, start, answers)) for _ in range(REQUESTS)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - began
    finally:
        server.terminate()
        server.wait(timeout=60)

    created = Customer.objects.filter(operator=operator).count()
    statuses = Counter(status for status, _r, _b in answers)
    replayed = sum(1 for _s, r, _b in answers if r == "true")
    bodies = {b for s, _r, b in answers if s == 201}
    server_errors = sum(v for s, v in statuses.items() if s >= 500 or s == 0)
    ok = (
        created == 1
        and server_errors == 0
        and set(statuses) <= {201, 409}
        and len(bodies) == 1
        and len(answers) == REQUESTS
    )
    codes = ", ".join(f"{s} x{v}" for s, v in sorted(statuses.items()))
    report(
        f"idempotency: {n(REQUESTS)} concurrent POSTs, one Idempotency-Key, gunicorn "
        f"{WORKERS} workers ({db['NAME']}): {created} object; answers {codes} "
        f"({replayed} replayed, all 201s identical: {len(bodies) == 1}), "
        f"{server_errors} server errors ({seconds:.0f} s)",
        ok,
    )


def wait_until_up(server: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped at start (exit code {server.returncode}).")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
            probe.request("GET", "/health/")
            if probe.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on port {PORT} within {timeout:.0f} s.")


if __name__ == "__main__":
    sys.exit(main())
