"""Ingest with signed meter data: kept byte for byte, billed from the signed readings at a
calibration-law relevant EVSE, quarantined when they are missing or fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from sessions.metering.quarantine import (
    SignedDataExists,
    attach_signed_data,
    verify_again,
    write_off,
)
from sessions.metering.records import signed_input_of
from sessions.metering.simulator import SimulatedMeter
from sessions.metering.verification import SignedMeterInput, SignedRecord
from sessions.models import ChargingSession, SignedMeterData, SignedMeterValue
from sessions.services import SessionQuarantined, import_tariff, ingest_sessions, reprice_session
from tests.factories import EVSEFactory

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=1, minutes=30)
TARIFF = {
    "id": "DE-AC",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": Decimal("0.50"), "step_size": 1},
                {"type": "TIME", "price": Decimal("1.20"), "step_size": 60},
            ]
        },
    ],
}


@pytest.fixture
def meter():
    return SimulatedMeter(serial="EMH-7", next_page=100)


@pytest.fixture
def evse(operator, meter):
    return EVSEFactory(
        location__operator=operator,
        evse_id="DE*CPO*E0007",
        calibration_law_relevant=True,
        meter_public_key=meter.public_key_hex,
    )


@pytest.fixture
def tariff(operator):
    return import_tariff(operator=operator, data=TARIFF)


def native(meter=None, records=None, **overrides):
    record = {
        "source_id": "EICH-1",
        "evse_id": "DE*CPO*E0007",
        "tariff_id": "DE-AC",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "energy_kwh": "20.000",  # the CPMS's own (unsigned) figure
        "idle_minutes": 0,
    }
    if meter is not None and records is None:
        records = list(meter.transaction(start=START, end=END, start_wh=500_000, end_wh=522_345))
    if records is not None:
        record["ocmf"] = records
    record.update(overrides)
    return record


def ingest(operator, payload, payload_format="native"):
    (outcome,) = ingest_sessions(
        operator=operator, source="cpms", payloads=[payload], payload_format=payload_format
    )
    assert outcome.ok, outcome.errors
    return ChargingSession.objects.get(pk=outcome.session_id)


@pytest.mark.django_db
def test_the_signed_readings_not_the_cpms_figure_are_billed(operator, evse, tariff, meter):
    session = ingest(operator, native(meter))
    assert session.meter_verdict == "valid"
    assert session.quarantine == ""
    assert session.energy_kwh == Decimal("22.345")
    energy = session.charge_lines.get(component="energy")
    assert energy.quantity == Decimal("22.345")
    assert energy.net == Decimal("11.17")  # 22.345 kWh x 0.50, half up
    data = session.signed_meter_data
    assert (data.meter_serial, data.start_kwh, data.end_kwh) == (
        "EMH-7",
        Decimal("500"),
        Decimal("522.345"),
    )


@pytest.mark.django_db
def test_stored_signed_data_round_trip_byte_for_byte(operator, evse, tariff, meter):
    records = list(meter.transaction(start=START, end=END, start_wh=1, end_wh=20_001))
    # Exotic but legal JSON inside the signed payload: spaces, escapes, non-ASCII.
    odd = meter.sign('{"FV":"1.0", "GI":"Zähler \\u00e4 \\"x\\"","MS":"EMH-7","PG":"T999","RD":[]}')
    session = ingest(operator, native(records=[*records, odd]))
    stored = [v.signed_data for v in session.signed_meter_data.values.order_by("position")]
    assert stored == [*records, odd]
    assert [s.encode() for s in stored] == [r.encode() for r in [*records, odd]]


@pytest.mark.django_db
def test_an_ocpi_cdr_with_signed_data_keeps_every_signed_value(operator, evse, tariff, meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=10_000)
    cdr = {
        "id": "CDR-EICH-1",
        "start_date_time": START.isoformat(),
        "end_date_time": END.isoformat(),
        "currency": "EUR",
        "cdr_location": {"evse_id": "DE*CPO*E0007"},
        "tariffs": [TARIFF],
        "charging_periods": [
            {
                "start_date_time": START.isoformat(),
                "dimensions": [{"type": "ENERGY", "volume": 9.5}, {"type": "TIME", "volume": 1.5}],
            }
        ],
        "total_energy": 9.5,
        "total_time": 1.5,
        "signed_data": {
            "encoding_method": "OCMF",
            "encoding_method_version": 1,
            "public_key": meter.public_key_hex,
            "url": "https://cpo.example/verify",
            "signed_values": [
                {"nature": "Start", "plain_data": "0 kWh", "signed_data": begin},
                {"nature": "End", "plain_data": "10 kWh", "signed_data": end},
            ],
        },
    }
    session = ingest(operator, cdr, payload_format="ocpi_cdr")
    assert session.meter_verdict == "valid"
    assert session.energy_kwh == Decimal("10.000")
    data = signed_input_of(session.signed_meter_data)
    assert data.url == "https://cpo.example/verify"
    assert [(r.nature, r.plain_data, r.signed_data) for r in data.records] == [
        ("Start", "0 kWh", begin),
        ("End", "10 kWh", end),
    ]


@pytest.mark.django_db
def test_a_malformed_signed_data_object_is_refused_with_its_path(operator, evse, tariff):
    (outcome,) = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[native(signed_data={"encoding_method": "OCMF", "signed_values": [{"x": 1}]})],
    )
    assert outcome.status == "rejected"
    assert outcome.errors == {
        "signed_data.signed_values[0].signed_data": ["This field is required."]
    }
    assert not ChargingSession.objects.exists()


@pytest.mark.django_db
def test_without_signed_data_a_relevant_evse_quarantines_the_session(operator, evse, tariff):
    session = ingest(operator, native())
    assert session.quarantine == "open"
    assert session.priced_at is None
    assert session.total_gross is None
    assert not session.charge_lines.exists()
    assert session.meter_issues[0].startswith("No signed meter data: EVSE DE*CPO*E0007")


@pytest.mark.django_db
def test_a_tampered_record_is_stored_as_received_and_quarantined(operator, evse, tariff, meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=10_000)
    tampered = end.replace('"RV":10000', '"RV":99000')
    session = ingest(operator, native(records=[begin, tampered]))
    assert session.meter_verdict == "invalid"
    assert session.quarantine == "open"
    assert session.priced_at is None
    assert session.signed_meter_data.values.get(position=2).signed_data == tampered
    with pytest.raises(SessionQuarantined):
        reprice_session(session=session)


@pytest.mark.django_db
def test_signed_data_elsewhere_are_verified_but_the_cpms_figure_is_billed(operator, tariff, meter):
    EVSEFactory(location__operator=operator, evse_id="DE*CPO*E0007", meter_public_key="")
    session = ingest(operator, native(meter))
    assert session.quarantine == ""
    assert session.meter_verdict == "invalid"  # no key registered: shown, not billed upon
    assert session.energy_kwh == Decimal("20.000")


@pytest.mark.django_db
def test_registering_the_key_and_verifying_again_releases_and_prices(operator, evse, tariff, meter):
    key = evse.meter_public_key
    evse.meter_public_key = ""
    evse.save()
    session = ingest(operator, native(meter))
    assert session.quarantine == "open"
    evse.meter_public_key = key
    evse.save()
    session = verify_again(session=session)
    assert session.quarantine == ""
    assert session.priced_at is not None
    assert session.energy_kwh == Decimal("22.345")
    assert session.charge_lines.get(component="energy").quantity == Decimal("22.345")


@pytest.mark.django_db
def test_signed_data_arriving_later_are_attached_once(operator, evse, tariff, meter):
    session = ingest(operator, native())
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=7_000)
    signed = SignedMeterInput("OCMF", (SignedRecord(begin, "Start"), SignedRecord(end, "End")))
    session = attach_signed_data(session=session, signed=signed)
    assert session.quarantine == ""
    assert session.energy_kwh == Decimal("7.000")
    with pytest.raises(SignedDataExists):
        attach_signed_data(session=session, signed=signed)
    assert SignedMeterData.objects.count() == 1


@pytest.mark.django_db
def test_a_written_off_session_is_never_priced(operator, evse, tariff):
    session = ingest(operator, native())
    session = write_off(session=session, reason="Meter replaced; readings lost.")
    assert session.quarantine == "written_off"
    assert session.meter_issues[-1] == "Written off: Meter replaced; readings lost."
    with pytest.raises(SessionQuarantined):
        verify_again(session=session)
    with pytest.raises(SessionQuarantined):
        reprice_session(session=session)


@pytest.mark.django_db
def test_a_clock_outside_the_certificate_bills_no_time_in_germany(operator, evse, tariff, meter):
    evse.clock_legally_relevant = False
    evse.save()
    session = ingest(operator, native(meter))
    assert {line.component for line in session.charge_lines.all()} == {"energy"}


@pytest.mark.django_db
def test_the_clock_flag_changes_nothing_outside_germany(operator, tariff):
    evse = EVSEFactory(
        location__operator=operator,
        location__country="AT",
        location__time_zone="Europe/Vienna",
        evse_id="DE*CPO*E0007",
        clock_legally_relevant=False,
    )
    session = ingest(operator, native())
    assert evse.calibration_law_relevant is False
    assert {line.component for line in session.charge_lines.all()} == {"energy", "charging_time"}


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_to_change_or_delete_what_arrived(operator, evse, tariff, meter):
    session = ingest(operator, native(meter))
    data = session.signed_meter_data
    value = data.values.first()
    for attempt in (
        lambda: SignedMeterValue.objects.filter(pk=value.pk).update(signed_data="OCMF|{}|{}"),
        lambda: SignedMeterValue.objects.filter(pk=value.pk).delete(),
        lambda: SignedMeterData.objects.filter(pk=data.pk).update(public_key="00"),
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            attempt()
    # What verification read may be brought up to date.
    SignedMeterData.objects.filter(pk=data.pk).update(meter_serial="EMH-7b")
    assert data.values.get(pk=value.pk).signed_data == value.signed_data


@pytest.mark.django_db
def test_readings_beyond_what_a_session_can_hold_are_quarantined(operator, evse, tariff, meter):
    records = list(meter.transaction(start=START, end=END, start_wh=0, end_wh=10**12))
    session = ingest(operator, native(records=records))
    assert session.quarantine == "open"
    assert "more than one session can hold" in session.meter_issues[0]
