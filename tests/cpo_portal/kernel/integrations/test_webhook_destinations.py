"""Webhooks go to public receivers only, unless an on-premises network is explicitly allowed."""

from __future__ import annotations

import socket

import pytest

from cpo_portal.kernel.integrations import webhooks
from invoicing.models import WebhookAttempt, WebhookEndpoint
from tests.cpo_portal.kernel.integrations.receiver import start_receiver
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def send_one(operator, integrator, customer, url):
    WebhookEndpoint.objects.create(integrator=integrator, url=url)
    document = issue_invoice_for(customer)
    delivery = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])[
        0
    ].deliveries.get()
    # issue_invoice_for emitted its own event too: deliver only ours.
    result = webhooks.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return result, delivery


def test_a_loopback_receiver_is_refused_without_the_allow_list(
    operator, integrator, per_session_customer, receiver, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    result, delivery = send_one(operator, integrator, per_session_customer, receiver.url)

    assert receiver.received == []
    assert result.status == "failed"  # refused for good: retrying cannot change the address
    assert delivery.last_error.startswith("Refused: ")
    assert "WEBHOOK_ALLOWED_NETWORKS" in delivery.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "http://localhost:9/hooks",
        "http://10.1.2.3/hooks",
        "http://[::1]:9/hooks",
        "http://[::ffff:127.0.0.1]:9/hooks",
        "http://0.0.0.0:9/hooks",
    ],
)
def test_internal_destinations_are_refused_before_connecting(
    operator, integrator, per_session_customer, settings, url
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _result, delivery = send_one(operator, integrator, per_session_customer, url)

    assert delivery.status == "failed"
    assert delivery.last_error.startswith("Refused: ")
    assert WebhookAttempt.objects.get(delivery=delivery).duration_ms < 1000


def test_the_allow_list_lets_an_on_premises_receiver_in(
    operator, integrator, per_session_customer, receiver, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    result, _delivery = send_one(operator, integrator, per_session_customer, receiver.url)

    assert result.status == "delivered"
    assert len(receiver.received) == 1


def test_only_the_status_line_of_an_answer_is_kept(
    operator, integrator, per_session_customer, receiver, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver.answers.append(500)
    _result, delivery = send_one(operator, integrator, per_session_customer, receiver.url)

    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert (attempt.status_code, attempt.response_excerpt) == (500, "500 Internal Server Error")
    assert "nope" not in attempt.response_excerpt  # the body the receiver sent


def test_the_checked_address_is_the_one_connected_to(
    operator, integrator, per_session_customer, receiver, settings, monkeypatch
):
    """DNS rebinding: a name that answers differently on the next look-up changes nothing."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    port = receiver.server.server_address[1]
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding_dns(host, *args, **kwargs):
        if host == "hooks.erp.test":
            # First look-up: the allowed receiver; any later one: the metadata service.
            address = next(answers, "169.254.169.254")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    result, _delivery = send_one(
        operator, integrator, per_session_customer, f"http://hooks.erp.test:{port}/hooks"
    )

    assert result.status == "delivered"
    (request,) = receiver.received
    assert request.headers["host"] == f"hooks.erp.test:{port}"


def test_a_name_with_any_internal_address_is_refused(
    operator, integrator, per_session_customer, settings, monkeypatch
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    def split_dns(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", split_dns)
    _result, delivery = send_one(
        operator, integrator, per_session_customer, "https://hooks.erp.test/hooks"
    )

    assert delivery.status == "failed"
    assert "127.0.0.1" in delivery.last_error


def endpoint_form(operator, url):
    return {
        "operator": operator.pk,
        "name": "ERP",
        "session_source": "erp",
        "is_active": "on",
        "webhook_endpoints-TOTAL_FORMS": "1",
        "webhook_endpoints-INITIAL_FORMS": "0",
        "webhook_endpoints-0-url": url,
        "webhook_endpoints-0-is_active": "on",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://erp:s3cret@erp.example/hooks", "Remove the user name and password"),
        ("http://169.254.169.254/latest/", "WEBHOOK_ALLOWED_NETWORKS"),
        ("http://localhost:8080/hooks", "WEBHOOK_ALLOWED_NETWORKS"),
    ],
)
def test_staff_are_told_at_once_when_a_url_cannot_receive_webhooks(
    admin_client, operator, settings, url, message
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    response = admin_client.post("/admin/invoicing/integrator/add/", endpoint_form(operator, url))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_allowed_on_premises_url_is_accepted(admin_client, operator, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    response = admin_client.post(
        "/admin/invoicing/integrator/add/", endpoint_form(operator, "http://10.20.1.5/hooks")
    )

    assert response.status_code == 302
    assert WebhookEndpoint.objects.get().url == "http://10.20.1.5/hooks"
