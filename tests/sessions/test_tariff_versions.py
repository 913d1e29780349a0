"""Tariff versions: every session is priced with the version valid at its start, whenever it
arrives and however often it is priced again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sessions.models import ChargingSession, Tariff
from sessions.services import import_tariff, ingest_sessions, reprice_session
from tests.cpo_portal.kernel.api.support import Api
from tests.factories import EVSEFactory

NOVEMBER = {
    "id": "AC-1",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]}
    ],
}
DECEMBER = {
    **NOVEMBER,
    "start_date_time": "2026-12-01T00:00:00Z",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.60"), "step_size": 1}]}
    ],
}


def as_json(tariff: dict) -> dict:
    """The tariff with its prices as JSON numbers (the API reads them as exact decimals)."""
    elements = [
        {"price_components": [{**c, "price": float(c["price"])} for c in e["price_components"]]}
        for e in tariff["elements"]
    ]
    return {**tariff, "elements": elements}


def record(source_id: str, start: str, end: str) -> dict:
    return {
        "source_id": source_id,
        "evse_id": "DE*VWY*E000001",
        "tariff_id": "AC-1",
        "start": start,
        "end": end,
        "energy_kwh": "10",
    }


NOV_30 = record("NOV-30", "2026-11-30T22:00:00+00:00", "2026-11-30T23:00:00+00:00")
DEC_1 = record("DEC-1", "2026-12-01T08:00:00+00:00", "2026-12-01T09:00:00+00:00")


@pytest.fixture
def evse(operator):
    return EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")


def ingest(operator, payload) -> ChargingSession:
    (outcome,) = ingest_sessions(operator=operator, source="cpms", payloads=[payload])
    assert outcome.ok, outcome.errors
    return ChargingSession.objects.get(pk=outcome.session_id)


@pytest.mark.django_db
def test_a_30_november_session_arriving_after_the_1_december_price_change_keeps_its_price(
    operator, evse
):
    import_tariff(operator=operator, data=NOVEMBER)
    import_tariff(operator=operator, data=DECEMBER)

    late = ingest(operator, NOV_30)
    december = ingest(operator, DEC_1)

    assert (late.total_net, december.total_net) == (Decimal("4.00"), Decimal("6.00"))
    assert Tariff.objects.filter(ocpi_id="AC-1").count() == 2


@pytest.mark.django_db
def test_a_version_without_start_date_replaces_the_one_in_use_from_its_import(operator, evse):
    import_tariff(operator=operator, data=NOVEMBER)
    ingest(operator, record("EARLIER", "2026-11-29T10:00:00+00:00", "2026-11-29T11:00:00+00:00"))
    new = {**DECEMBER}
    del new["start_date_time"]
    import_tariff(operator=operator, data=new, now=datetime(2026, 12, 1, 7, tzinfo=UTC))

    # The first version priced a session: it is kept, and still prices what started before.
    assert ingest(operator, NOV_30).total_net == Decimal("4.00")
    assert ingest(operator, DEC_1).total_net == Decimal("6.00")
    assert ChargingSession.objects.get(source_id="EARLIER").tariff.ocpi_json != (
        Tariff.objects.filter(ocpi_id="AC-1").latest_versions().get().ocpi_json
    )


@pytest.mark.django_db
def test_repricing_uses_the_version_valid_at_the_session_start(operator, evse):
    import_tariff(operator=operator, data=NOVEMBER)
    november = ingest(operator, NOV_30)
    # The CPMS sent a 1 December session before the operator announced December's prices.
    december = ingest(operator, DEC_1)
    import_tariff(operator=operator, data=DECEMBER)

    reprice_session(session=november)
    reprice_session(session=december)

    november.refresh_from_db()
    december.refresh_from_db()
    assert (november.total_net, december.total_net) == (Decimal("4.00"), Decimal("6.00"))
    assert "0.60" in december.tariff_snapshot.ocpi_json
    assert december.tariff.valid_from == datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_a_session_outside_every_version_is_refused_with_the_reason(operator, evse):
    import_tariff(operator=operator, data={**DECEMBER, "end_date_time": "2027-01-01T00:00:00Z"})

    (before, after) = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[NOV_30, record("JAN", "2027-01-02T08:00:00Z", "2027-01-02T09:00:00Z")],
    )

    assert before.status == after.status == "rejected"
    assert before.errors["tariff_id"][0].startswith("No version of tariff “AC-1” is valid")
    assert not ChargingSession.objects.exists()


@pytest.mark.django_db
def test_importing_the_same_version_again_changes_nothing(operator, evse):
    first = import_tariff(operator=operator, data=NOVEMBER)
    ingest(operator, NOV_30)

    assert import_tariff(operator=operator, data=NOVEMBER) == first
    assert Tariff.objects.count() == 1


def test_the_price_change_through_the_api(api: Api, operator, evse):
    assert api.post("/api/v1/tariffs/", as_json(NOVEMBER)).status_code == 201
    api.post("/api/v1/sessions/", {**NOV_30, "source_id": "EARLY"})
    assert api.post("/api/v1/tariffs/", as_json(DECEMBER)).status_code == 200

    late = api.post("/api/v1/sessions/", NOV_30)
    december = api.post("/api/v1/sessions/", DEC_1)

    assert late.status_code == december.status_code == 201, late.content
    assert (late.json()["total_net"], december.json()["total_net"]) == ("4.00", "6.00")
    current = api.get("/api/v1/tariffs/AC-1/").json()
    assert current["start_date_time"] == "2026-12-01T00:00:00Z"
    assert [t["id"] for t in api.get("/api/v1/tariffs/").json()["results"]] == ["AC-1"]
