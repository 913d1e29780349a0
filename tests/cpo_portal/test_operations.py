"""Operating the product: Prometheus metrics for a scraper with its token, JSON logs on request,
error reports to Sentry when a DSN is set."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from customers.notifications.models import OutboundMessage
from invoicing.billing.models import BillingRun
from tests.factories import CustomerFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scraper-secret"


@pytest.fixture
def scraper(settings):
    settings.METRICS_TOKEN = TOKEN
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.mark.django_db
def test_metrics_are_off_until_a_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer wrong", TOKEN])
def test_a_scraper_without_the_token_gets_401(client, scraper, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/metrics/", **extra)

    assert response.status_code == 401
    assert b"cpo_" not in response.content


@pytest.mark.django_db
def test_the_scraper_reads_requests_billing_progress_failures_and_matching(
    client, scraper, operator
):
    from datetime import date

    BillingRun.objects.create(
        operator=operator,
        period=date(2026, 11, 1),
        status=BillingRun.Status.RUNNING,
        customers_total=40,
        customers_billed=25,
        customers_failed=2,
    )
    OutboundMessage.objects.create(
        customer=CustomerFactory(operator=operator),
        event="payment_failed",
        channel="email",
        recipient="dana@example.org",
        language="en",
        status=OutboundMessage.Status.FAILED,
        not_before=timezone.now(),
    )
    client.get("/health/")

    response = client.get("/metrics/", **scraper)

    assert response.status_code == 200
    text = response.content.decode()
    assert 'cpo_http_requests_total{method="GET",status="2xx"}' in text
    assert 'cpo_billing_run_customers{period="2026-11",state="to_bill"} 40.0' in text
    assert 'cpo_billing_run_customers{period="2026-11",state="billed"} 25.0' in text
    assert 'cpo_billing_run_customers{period="2026-11",state="failed"} 2.0' in text
    assert 'cpo_outbox_messages{status="failed"} 1.0' in text
    assert "cpo_webhook_deliveries_failed 0.0" in text
    assert "cpo_receipt_matching_ratio 0.0" in text


def run_with(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "CELERY_", "CPO_", "LOG_", "SENTRY_"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="cpo_portal.settings",
        CPO_ENV_FILE=os.devnull,
        CPO_PROFILE="development",
        **env,
    )
    program = "import django, logging; django.setup(); " + code
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_format_json_writes_one_json_object_per_line(tmp_path):
    done = run_with(
        {"LOG_FORMAT": "json", "CPO_VAR_DIR": str(tmp_path)},
        "logging.getLogger('invoicing').warning('run %s finished', 7)",
    )

    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "invoicing",
        "run 7 finished",
    )


class SentryIntake(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            import brotli

            body = brotli.decompress(body)
        self.received.append(self.path.encode() + b" " + body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_an_error_goes_to_sentry_when_a_dsn_is_set(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SentryIntake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"http://publickey@127.0.0.1:{server.server_port}/42"
    try:
        done = run_with(
            {"SENTRY_DSN": dsn, "CPO_VAR_DIR": str(tmp_path)},
            "import sentry_sdk; sentry_sdk.capture_exception(ValueError('boom')); "
            "sentry_sdk.flush(5)",
        )
    finally:
        server.shutdown()
        server.server_close()

    assert done.returncode == 0, done.stderr
    assert any(
        body.startswith(b"/api/42/envelope/") and b"ValueError" in body and b"boom" in body
        for body in SentryIntake.received
    ), SentryIntake.received
