"""Outgoing webhooks: outbox rows written with the change, signed, retried, recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.integrations.tasks import clean_integrator_records
from invoicing.documents.issuing import issue_credit_note
from invoicing.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from tests.cpo_portal.kernel.api.support import make_integrator
from tests.cpo_portal.kernel.integrations.receiver import start_receiver
from tests.factories import CustomerFactory, OperatorFactory
from tests.invoicing.helpers import issue_invoice_for, make_priced_session


@pytest.fixture
def receiver(settings):
    # The receiver listens on 127.0.0.1: loopback receives webhooks only when allowed.
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    receiver = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def endpoint(integrator, receiver) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(integrator=integrator, url=receiver.url)


@pytest.fixture
def document(endpoint, per_session_customer):
    """An issued invoice whose own events are cleared, for tests that emit by hand."""
    document = issue_invoice_for(per_session_customer)
    WebhookEvent.objects.all().delete()
    return document


def verify(endpoint: WebhookEndpoint, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/api.md), written independently of the webhooks module."""
    key = base64.b64decode(endpoint.secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers["webhook-signature"].split(" ")
    )


def due_now(delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())


def test_nothing_is_written_when_nobody_listens(operator, per_session_customer):
    document = issue_invoice_for(per_session_customer)

    assert webhooks.emit(operator=operator, event="invoice.issued", objects=[document]) == []
    assert not WebhookEvent.objects.exists()


def test_an_event_goes_to_the_endpoints_that_subscribed_to_it(
    operator, integrator, endpoint, per_session_customer
):
    WebhookEndpoint.objects.create(
        integrator=integrator, url="http://127.0.0.1:9/paid-only", events=["invoice.paid"]
    )
    other_operator_endpoint = WebhookEndpoint.objects.create(
        integrator=make_integrator(OperatorFactory(), "Elsewhere"),
        url="http://127.0.0.1:9/other",
    )
    document = issue_invoice_for(per_session_customer)

    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document.pk])

    assert [d.endpoint for d in event.deliveries.all()] == [endpoint]
    assert not other_operator_endpoint.deliveries.exists()
    body = json.loads(event.body)
    assert body["type"] == "invoice.issued"
    assert body["data"]["number"] == document.display_number
    assert body["data"]["total_gross"] == "5.00"
    assert event.message_id.startswith("msg_")


def test_a_credited_event_names_its_credit_note(operator, endpoint, per_session_customer):
    document = issue_invoice_for(per_session_customer)
    credit_note, _ = issue_credit_note(document=document, reason="Wrong")

    (event,) = webhooks.emit(operator=operator, event="invoice.credited", objects=[document])

    data = json.loads(event.body)["data"]
    assert (data["status"], data["credit_note_id"]) == ("credited", credit_note.pk)


def test_a_session_priced_event_carries_the_totals(operator, endpoint):
    session = make_priced_session(operator, None)

    (event,) = webhooks.emit(operator=operator, event="session.priced", objects=[session])

    data = json.loads(event.body)["data"]
    assert (data["source_id"], data["total_gross"]) == (session.source_id, "5.00")
    assert data == {
        "id": session.pk,
        "source": session.source,
        "source_id": session.source_id,
        "customer_id": session.customer_id,
        "evse_id": session.evse.evse_id,
        "tariff_id": session.tariff.ocpi_id,
        "started_at": session.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ended_at": session.ended_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "energy_kwh": str(session.energy_kwh),
        "currency": session.currency,
        "total_net": str(session.total_net),
        "total_vat": str(session.total_vat),
        "total_gross": "5.00",
    }


def test_events_are_queued_only_after_commit_and_vanish_with_a_rollback(
    operator, document, django_capture_on_commit_callbacks
):

    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    assert len(callbacks) == 1

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        try:
            with transaction.atomic():
                webhooks.emit(operator=operator, event="invoice.paid", objects=[document])
                raise RuntimeError("the business transaction fails")
        except RuntimeError:
            pass
    assert callbacks == []
    assert list(WebhookEvent.objects.values_list("type", flat=True)) == ["invoice.issued"]


def test_a_delivery_is_signed_and_recorded(operator, endpoint, receiver, per_session_customer):
    document = issue_invoice_for(per_session_customer)
    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    delivery = event.deliveries.get()

    result = webhooks.deliver(delivery_id=delivery.pk)

    assert result.status == "delivered"
    (request,) = receiver.received
    assert request.body == event.body.encode()
    assert request.headers["webhook-id"] == event.message_id
    assert abs(int(request.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    assert verify(endpoint, request.headers, request.body)
    assert not verify(endpoint, request.headers, request.body + b" ")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.number, attempt.status_code, attempt.response_excerpt) == (1, 200, "200 OK")


def test_failures_are_retried_with_growing_delays_for_more_than_a_day(
    operator, endpoint, receiver, per_session_customer
):
    document = issue_invoice_for(per_session_customer)
    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    delivery = event.deliveries.get()
    receiver.answers.extend([500, 302, 404, 503, 500, 500, 500, 500])
    delays = []

    for _attempt in range(8):
        before = timezone.now()
        result = webhooks.deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        if result.retry_in is not None:
            delays.append(result.retry_in)
            assert delivery.next_attempt_at >= before + result.retry_in
            assert webhooks.deliver(delivery_id=delivery.pk).status == "skipped"  # not due yet
            due_now(delivery.pk)

    assert sum(delays, timedelta()) >= timedelta(hours=24)
    assert delays == sorted(delays)
    assert (delivery.status, delivery.attempts) == ("failed", 8)
    assert list(delivery.tries.values_list("status_code", flat=True)) == [
        500,
        302,
        404,
        503,
        500,
        500,
        500,
        500,
    ]
    assert len(receiver.received) == 8
    assert all(r.headers["webhook-id"] == event.message_id for r in receiver.received)


def test_an_unreachable_endpoint_is_a_failed_attempt_with_the_reason(
    operator, integrator, per_session_customer, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # nothing listens on port 9
    WebhookEndpoint.objects.create(integrator=integrator, url="http://127.0.0.1:9/closed")
    document = issue_invoice_for(per_session_customer)
    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])

    result = webhooks.deliver(delivery_id=event.deliveries.get().pk)

    assert (result.status, result.retry_in) == ("pending", timedelta(seconds=5))
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "connection refused" in attempt.error.lower()


def test_the_sweep_sends_what_was_committed_but_never_queued(
    operator, document, receiver, django_capture_on_commit_callbacks
):
    # The process dies right after commit: the on-commit queueing never happens.
    with django_capture_on_commit_callbacks(execute=False):
        webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    delivery = WebhookDelivery.objects.get()

    assert webhooks.due_delivery_ids() == []  # still young: its own task may be on the way
    later = timezone.now() + timedelta(minutes=1)
    assert webhooks.due_delivery_ids(now=later) == [delivery.pk]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    for delivery_id in webhooks.due_delivery_ids():
        webhooks.deliver(delivery_id=delivery_id)

    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


def test_a_switched_off_endpoint_gets_nothing(operator, endpoint, receiver, per_session_customer):
    document = issue_invoice_for(per_session_customer)
    (event,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    result = webhooks.deliver(delivery_id=event.deliveries.get().pk)

    assert result.status == "failed"
    assert receiver.received == []


def test_finished_events_are_deleted_after_the_retention(operator, document):
    (done,) = webhooks.emit(operator=operator, event="invoice.issued", objects=[document])
    (pending,) = webhooks.emit(operator=operator, event="invoice.paid", objects=[document])
    done.deliveries.update(status="delivered")
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=31))

    clean_integrator_records()

    assert list(WebhookEvent.objects.all()) == [pending]


def test_unknown_events_are_a_programming_error(operator):
    with pytest.raises(ValueError, match="Unknown webhook event"):
        webhooks.emit(operator=operator, event="invoice.deleted", objects=[1])


@pytest.mark.django_db(transaction=True)
def test_a_committed_event_reaches_the_integrator_through_a_real_worker_and_a_retry(
    celery_worker_thread, operator, receiver
):
    endpoint = WebhookEndpoint.objects.create(
        integrator=make_integrator(operator), url=receiver.url, events=["session.priced"]
    )
    receiver.answers.append(500)  # the first attempt fails; the retry 5 s later succeeds

    # A session of a customer who gets no document: only the webhook tasks reach the worker.
    with transaction.atomic():
        session = make_priced_session(operator, CustomerFactory(operator=operator))
        assert receiver.received == []  # nothing leaves before the commit

    received = receiver.wait_for(2, timeout=30)
    assert len(received) == 2
    assert received[0].headers["webhook-id"] == received[1].headers["webhook-id"]
    assert all(verify(endpoint, r.headers, r.body) for r in received)
    assert json.loads(received[1].body)["data"]["source_id"] == session.source_id
    assert wait_for_status("delivered") == ("delivered", 2)


def wait_for_status(status: str, timeout: float = 10) -> tuple[str, int]:
    """The delivery's (status, attempts) once it reaches `status` (the worker records it)."""
    if connection.vendor == "sqlite":
        # The shared in-memory test database locks whole tables: a reader here would make the
        # worker's write fail. Uncommitted reads take no lock (and see the same rows here).
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = true")
    end = time.monotonic() + timeout
    while True:
        try:
            delivery = WebhookDelivery.objects.get()
        except OperationalError:
            delivery = None
        if (delivery and delivery.status == status) or time.monotonic() > end:
            return (delivery.status, delivery.attempts) if delivery else ("unknown", 0)
        time.sleep(0.1)
