"""Idempotency-Key: a retried write gets the first answer; never twice, never a mixed twin."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cpo_portal.kernel.integrations import idempotency
from cpo_portal.kernel.integrations.tasks import clean_integrator_records
from customers.models import Customer
from invoicing.models import Document, IdempotencyRecord, Integrator
from tests.cpo_portal.kernel.api.support import Api, make_integrator, make_key
from tests.invoicing.helpers import issue_invoice_for

CUSTOMERS = "/api/v1/customers/"
ADA = {"kind": "individual", "name": "Ada", "email": "ada@example.org"}


def test_the_same_key_and_body_replays_the_first_response(api):
    first = api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})
    again = api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_the_same_key_with_another_body_is_422(api):
    api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})

    other = api.post(CUSTOMERS, {**ADA, "name": "Bob"}, **{"Idempotency-Key": "k-1"})
    elsewhere = api.post("/api/v1/tokens/", {}, **{"Idempotency-Key": "k-1"})

    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    assert elsewhere.status_code == 422
    assert Customer.objects.count() == 1


def test_a_duplicate_while_the_first_is_in_flight_is_409(api, integrator):
    # What the first request left while it runs: its claim, locked for a few minutes.
    IdempotencyRecord.objects.create(
        integrator=integrator,
        key="k-1",
        method="POST",
        path=CUSTOMERS,
        request_hash=idempotency.request_hash(method="POST", path=CUSTOMERS, body=Api.body_of(ADA)),
        locked_until=timezone.now() + timedelta(minutes=5),
    )

    response = api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 409
    assert "still being processed" in response.json()["detail"]
    assert not Customer.objects.exists()


def test_a_key_left_in_flight_by_a_crashed_request_is_taken_over_later(api, integrator):
    IdempotencyRecord.objects.create(
        integrator=integrator,
        key="k-1",
        method="POST",
        path=CUSTOMERS,
        request_hash=idempotency.request_hash(method="POST", path=CUSTOMERS, body=Api.body_of(ADA)),
        locked_until=timezone.now() - timedelta(seconds=1),
    )

    response = api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 201
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


def test_a_refused_request_is_replayed_as_refused_and_stores_nothing(api):
    first = api.post(CUSTOMERS, {"kind": "individual"}, **{"Idempotency-Key": "k-2"})
    again = api.post(CUSTOMERS, {"kind": "individual"}, **{"Idempotency-Key": "k-2"})

    assert (first.status_code, again.status_code) == (400, 400)
    assert again.json() == first.json()
    assert not Customer.objects.exists()


def test_a_refused_credit_note_leaves_the_invoice_as_it_was(api, per_session_customer):
    invoice = issue_invoice_for(per_session_customer)
    Customer.objects.filter(pk=per_session_customer.pk).update(email="")

    response = api.post(
        f"/api/v1/invoices/{invoice.pk}/credit-note/",
        {"reason": "Wrong", "reissue": True},
        **{"Idempotency-Key": "k-3"},
    )

    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    assert Document.objects.count() == 1


def test_keys_belong_to_one_integrator(api, client, operator):
    other = Api(client, make_key(make_integrator(operator, "Shop")))

    api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})
    theirs = other.post(CUSTOMERS, {**ADA, "name": "Eve"}, **{"Idempotency-Key": "k-1"})

    assert theirs.status_code == 201
    assert Customer.objects.count() == 2


def test_an_unusable_key_is_400(api):
    response = api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "x" * 256})

    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]


def test_keys_are_kept_24_hours_then_cleaned_up(api):
    api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})["Idempotent-Replayed"]

    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    clean_integrator_records()

    assert not IdempotencyRecord.objects.exists()
    assert api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"}).status_code == 201


def test_an_expired_key_not_yet_cleaned_up_is_free_again(api):
    api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "k-1"})
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    response = api.post(CUSTOMERS, {**ADA, "name": "Bob"}, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_a_released_key_runs_again(integrator):
    record = idempotency.claim(integrator=integrator, key="k", method="POST", path="/", body=b"")

    idempotency.release(record=record)

    assert isinstance(
        idempotency.claim(integrator=integrator, key="k", method="POST", path="/", body=b""),
        IdempotencyRecord,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_at_once_create_one_customer(operator):
    from django.test import Client

    key = make_key(make_integrator(operator))
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send():
        try:
            api = Api(Client(), key)
            barrier.wait()
            statuses.append(api.post(CUSTOMERS, ADA, **{"Idempotency-Key": "same"}).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) in ([201, 201], [201, 409])
    assert Customer.objects.count() == 1
    assert Integrator.objects.count() == 1
