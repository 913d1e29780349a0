"""Verifying signed meter data (OCMF) signed by our own simulated meters: every verdict a CPO
meets at ingest, with the reason staff read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.metering.simulator import CURVES, SimulatedMeter
from sessions.metering.verification import (
    SignedMeterInput,
    SignedRecord,
    verify_signed_meter_data,
)

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


def signed(*records: str, method: str = "OCMF", key: str = "") -> SignedMeterInput:
    return SignedMeterInput(
        encoding_method=method,
        records=tuple(SignedRecord(signed_data=r) for r in records),
        public_key=key,
    )


@pytest.fixture
def meter():
    return SimulatedMeter(serial="EMH-1001", next_page=41)


def test_a_valid_transaction_is_verified_and_bills_end_minus_start(meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=1_204_000, end_wh=1_226_345)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert verdict.valid, verdict.issues
    assert verdict.meter_serial == "EMH-1001"
    assert verdict.start_kwh == Decimal("1204")
    assert verdict.end_kwh == Decimal("1226.345")
    assert verdict.measured_kwh == Decimal("22.345")
    assert (verdict.pagination_first, verdict.pagination_last) == (41, 42)


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_every_ocmf_curve_verifies(curve):
    meter = SimulatedMeter(serial="M-" + curve, curve=curve)
    begin, end = meter.transaction(start=START, end=END, start_wh=10, end_wh=2010)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert verdict.valid, verdict.issues
    assert verdict.measured_kwh == Decimal("2.000")


def test_one_altered_byte_fails_the_signature(meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=1_000_000, end_wh=1_010_000)
    tampered = end.replace('"RV":1010000', '"RV":1010900')
    assert tampered != end
    verdict = verify_signed_meter_data(signed(begin, tampered), registered_key=meter.public_key_hex)
    assert not verdict.valid
    assert verdict.issues == [
        "Record 2: the signature does not match the data (altered, or signed with another key)."
    ]


def test_data_signed_by_another_meter_fail_against_the_registered_key(meter):
    other = SimulatedMeter(serial="EMH-1001")
    begin, end = other.transaction(start=START, end=END, start_wh=0, end_wh=5000)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert not verdict.valid
    assert len(verdict.issues) == 2
    assert all("signature does not match" in issue for issue in verdict.issues)


def test_a_key_sent_with_the_data_must_be_the_registered_one(meter):
    other = SimulatedMeter(serial="X")
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=5000)
    verdict = verify_signed_meter_data(
        signed(begin, end, key=other.public_key_hex), registered_key=meter.public_key_hex
    )
    assert verdict.issues == [
        "The public key sent with the data is not the one registered for the EVSE."
    ]


def test_without_a_registered_key_nothing_is_trusted(meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=5000)
    verdict = verify_signed_meter_data(
        signed(begin, end, key=meter.public_key_hex), registered_key=""
    )
    assert not verdict.valid
    assert verdict.issues[0].startswith("No public key is registered for this EVSE")


def test_a_missing_end_reading_is_refused(meter):
    begin = meter.record(moment=START, reason="B", wh=1000)
    verdict = verify_signed_meter_data(signed(begin), registered_key=meter.public_key_hex)
    assert not verdict.valid
    assert any("end reading" in issue for issue in verdict.issues)
    assert verdict.measured_kwh is None


def test_a_pagination_gap_inside_the_session_is_refused(meter):
    begin = meter.record(moment=START, reason="B", wh=1000, page=10)
    end = meter.record(moment=END, reason="E", wh=9000, page=12)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert verdict.issues == ["Pagination gap: T12 follows T10; record T11 is missing."]


def test_an_energy_error_flag_is_refused(meter):
    begin = meter.record(moment=START, reason="B", wh=1000)
    end = meter.record(moment=END, reason="E", wh=9000, error_flags="E")
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert not verdict.valid
    assert any("error flag" in issue for issue in verdict.issues)


def test_a_meter_status_other_than_good_is_refused(meter):
    begin = meter.record(moment=START, reason="B", wh=1000)
    end = meter.record(moment=END, reason="E", wh=9000, status="M")  # manipulation detected
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert any("Meter status" in issue for issue in verdict.issues)


def test_records_of_two_meters_are_refused(meter):
    other = SimulatedMeter(serial="EMH-2002")
    other._key = meter._key  # same key, another serial: still not one meter's readings
    begin = meter.record(moment=START, reason="B", wh=1000)
    end = other.record(moment=END, reason="E", wh=9000, page=meter.next_page)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert any("different meters" in issue for issue in verdict.issues)


def test_an_unsynchronised_clock_is_noted_but_does_not_stop_billing(meter):
    begin = meter.record(moment=START, reason="B", wh=1000, time_status="U")
    end = meter.record(moment=END, reason="E", wh=9000, time_status="U")
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert verdict.valid
    assert any("synchronized" in note for note in verdict.notes)


def test_an_encoding_this_product_cannot_verify_is_not_valid(meter):
    verdict = verify_signed_meter_data(
        signed("AP;0;3;ALCV3ABBBISHMA2RYEGAZE3HV5YQBQRQAEHAR2MN;...", method="ALFEN"),
        registered_key=meter.public_key_hex,
    )
    assert verdict.issues == ["Encoding method “ALFEN” cannot be verified here (OCMF can)."]


def test_garbage_instead_of_ocmf_is_refused_with_the_record_number(meter):
    verdict = verify_signed_meter_data(
        signed("OCMF|{not json|{}"), registered_key=meter.public_key_hex
    )
    assert verdict.issues and verdict.issues[0].startswith("Record 1 is not readable OCMF")


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.one_of(
            st.text(max_size=300),
            st.builds(lambda body: f"OCMF|{body}|{{}}", st.text(max_size=200)),
        ),
        min_size=1,
        max_size=4,
    ),
    key=st.text(max_size=200),
)
def test_no_input_makes_the_verifier_fail_with_an_error_instead_of_a_verdict(records, key):
    verdict = verify_signed_meter_data(signed(*records), registered_key=key)
    assert not verdict.valid
    assert all("\n" not in issue for issue in verdict.issues)


@pytest.mark.parametrize(
    "record",
    [
        "OCMF|" + "[" * 5000 + "]" * 5000 + "|{}",
        'OCMF|{"PG":"T1","RD":[]}|' + "[" * 5000 + "]" * 5000,
    ],
)
def test_deeply_nested_json_is_refused_not_a_crash(meter, record):
    verdict = verify_signed_meter_data(signed(record), registered_key=meter.public_key_hex)
    assert verdict.issues[0].startswith("Record 1 is not readable OCMF")


def test_a_reading_beyond_any_register_is_refused(meter):
    begin, end = meter.transaction(start=START, end=END, start_wh=0, end_wh=10**16)
    verdict = verify_signed_meter_data(signed(begin, end), registered_key=meter.public_key_hex)
    assert verdict.issues == ["A reading of 10000000000000 kWh is beyond any meter's register."]
