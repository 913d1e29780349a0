"""A session is billed to the owner of the token with its UID and kind, never a look-alike."""

from __future__ import annotations

import pytest

from customers.models import ChargingToken
from sessions.models import ChargingSession
from tests.factories import ChargingTokenFactory, CustomerFactory
from tests.invoicing.helpers import helper_evse, helper_tariff
from tests.sessions.api.test_sessions import SESSIONS, cdr, native

SHARED_UID = "04A1B2C3D4"


@pytest.fixture
def evse(operator):
    return helper_evse(operator)


@pytest.fixture
def tariff(operator):
    return helper_tariff(operator)


@pytest.fixture
def card_owner(operator):
    customer = CustomerFactory(operator=operator, name="Carla Card")
    ChargingTokenFactory(customer=customer, kind=ChargingToken.Kind.RFID, uid=SHARED_UID)
    return customer


@pytest.fixture
def app_owner(operator):
    customer = CustomerFactory(operator=operator, name="Andy App")
    ChargingTokenFactory(customer=customer, kind=ChargingToken.Kind.APP, uid=SHARED_UID)
    return customer


def with_token(record, **token):
    return {**record, "cdr_token": {"uid": SHARED_UID, **token}}


@pytest.mark.django_db
def test_a_cdr_goes_to_the_owner_of_the_token_of_its_type(api, evse, tariff, card_owner, app_owner):
    rfid = api.post(f"{SESSIONS}cdrs/", with_token(cdr(evse, tariff, "C-RFID"), type="RFID"))
    app = api.post(f"{SESSIONS}cdrs/", with_token(cdr(evse, tariff, "C-APP"), type="APP_USER"))
    assert rfid.status_code == 201, rfid.json()
    assert app.status_code == 201, app.json()
    assert rfid.json()["customer"]["id"] == card_owner.pk
    assert app.json()["customer"]["id"] == app_owner.pk
    assert ChargingSession.objects.get(source_id="C-RFID").token.kind == "rfid"
    assert ChargingSession.objects.get(source_id="C-APP").token.kind == "app"


@pytest.mark.django_db
def test_a_session_naming_a_shared_uid_without_its_kind_is_refused(
    api, evse, tariff, card_owner, app_owner
):
    record = api.post(SESSIONS, native(evse, tariff, "N-1", token_uid=SHARED_UID))
    untyped = api.post(f"{SESSIONS}cdrs/", with_token(cdr(evse, tariff, "C-1")))
    assert record.status_code == 400
    assert "several kinds" in record.json()["token_kind"][0]
    assert untyped.status_code == 400
    assert "several kinds" in untyped.json()["cdr_token.type"][0]
    assert not ChargingSession.objects.exists()


@pytest.mark.django_db
def test_a_native_record_with_its_kind_goes_to_that_tokens_owner(
    api, evse, tariff, card_owner, app_owner
):
    app = api.post(SESSIONS, native(evse, tariff, "N-APP", token_uid=SHARED_UID, token_kind="app"))
    card = api.post(
        SESSIONS, native(evse, tariff, "N-RFID", token_uid=SHARED_UID, token_kind="rfid")
    )
    assert app.status_code == 201, app.json()
    assert app.json()["customer"]["id"] == app_owner.pk
    assert card.json()["customer"]["id"] == card_owner.pk


@pytest.mark.django_db
def test_a_uid_of_one_kind_only_needs_no_kind(api, evse, tariff, card_owner):
    response = api.post(SESSIONS, native(evse, tariff, token_uid=SHARED_UID))
    assert response.status_code == 201, response.json()
    assert response.json()["customer"]["id"] == card_owner.pk


@pytest.mark.django_db
def test_a_kind_the_uid_does_not_have_is_an_unknown_token(api, evse, tariff, card_owner):
    response = api.post(f"{SESSIONS}cdrs/", with_token(cdr(evse, tariff), type="APP_USER"))
    assert response.status_code == 400
    assert "Unknown charging token" in response.json()["cdr_token.uid"][0]


@pytest.mark.parametrize(
    ("token", "field"),
    [
        ("04A1B2C3D4", "cdr_token"),
        (["04A1B2C3D4"], "cdr_token"),
        ({"uid": "04A1B2C3D4", "type": "BADGE"}, "cdr_token.type"),
        ({"uid": {"nested": 1}, "type": "RFID"}, "cdr_token.uid"),
    ],
)
@pytest.mark.django_db
def test_a_malformed_cdr_token_is_refused_not_billed_to_the_anonymous_customer(
    api, evse, tariff, card_owner, token, field
):
    response = api.post(f"{SESSIONS}cdrs/", {**cdr(evse, tariff), "cdr_token": token})
    assert response.status_code == 400
    assert field in response.json()
    assert not ChargingSession.objects.exists()


@pytest.mark.django_db
def test_an_unknown_token_kind_in_a_native_record_is_refused(api, evse, tariff, card_owner):
    response = api.post(SESSIONS, native(evse, tariff, token_uid=SHARED_UID, token_kind="badge"))
    assert response.status_code == 400
    assert "Unknown token kind" in response.json()["token_kind"][0]


# --- token UIDs are the operator's own -----------------------------------------------------------


@pytest.mark.django_db
def test_a_uid_taken_by_another_operator_is_free_for_this_one(
    api, operator, other_operator, evse, tariff
):
    theirs = ChargingTokenFactory(
        customer=CustomerFactory(operator=other_operator), kind="rfid", uid=SHARED_UID
    )
    mine = CustomerFactory(operator=operator)
    response = api.post("/api/v1/tokens/", {"customer": mine.pk, "kind": "rfid", "uid": SHARED_UID})
    assert response.status_code == 201, response.json()
    assert ChargingToken.objects.filter(uid=SHARED_UID).count() == 2
    # Each operator's sessions go to its own token's customer.
    session = api.post(SESSIONS, native(evse, tariff, token_uid=SHARED_UID))
    assert session.json()["customer"]["id"] == mine.pk
    assert theirs.customer.charging_sessions.count() == 0


@pytest.mark.django_db
def test_a_uid_taken_in_the_same_operator_is_refused_with_a_field_error(api, operator, card_owner):
    other = CustomerFactory(operator=operator)
    response = api.post(
        "/api/v1/tokens/", {"customer": other.pk, "kind": "rfid", "uid": SHARED_UID}
    )
    assert response.status_code == 400
    assert response.json()["uid"] == ["A token of this kind with this UID exists."]


@pytest.mark.django_db
def test_the_database_keeps_uids_unique_per_operator_and_kind(operator, other_operator):
    from django.db import IntegrityError, transaction

    ChargingTokenFactory(customer=CustomerFactory(operator=operator), kind="rfid", uid="X1")
    ChargingTokenFactory(customer=CustomerFactory(operator=other_operator), kind="rfid", uid="X1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargingTokenFactory(customer=CustomerFactory(operator=operator), kind="rfid", uid="X1")
