"""Signed meter data in the database: stored once per session as received, read back as sent."""

from __future__ import annotations

from collections.abc import Sequence

from cpo_portal.kernel.bulk import insert_models
from sessions.metering.verification import MeterVerdict, SignedMeterInput, SignedRecord
from sessions.models import ChargingSession, SignedMeterData, SignedMeterValue


def describe_verdict(meter_data: SignedMeterData, verdict: MeterVerdict | None) -> None:
    """Copy what verification read (meter, readings, records) onto the stored data."""
    verdict = verdict or MeterVerdict()
    meter_data.meter_serial = verdict.meter_serial[:64]
    meter_data.start_kwh = verdict.start_kwh
    meter_data.end_kwh = verdict.end_kwh
    meter_data.pagination_context = verdict.pagination_context
    meter_data.pagination_first = verdict.pagination_first
    meter_data.pagination_last = verdict.pagination_last


def store_signed_meter_data(
    items: Sequence[tuple[ChargingSession, SignedMeterInput, MeterVerdict | None]],
) -> None:
    """Store each stored session's signed data, every string exactly as it arrived."""
    if not items:
        return
    data_rows = []
    for session, signed, verdict in items:
        meter_data = SignedMeterData(
            session=session,
            encoding_method=signed.encoding_method,
            encoding_method_version=signed.encoding_method_version,
            public_key=signed.public_key,
            url=signed.url,
        )
        describe_verdict(meter_data, verdict)
        data_rows.append(meter_data)
    insert_models(data_rows)
    insert_models(
        [
            SignedMeterValue(
                signed_meter_data=meter_data,
                position=position,
                nature=record.nature,
                plain_data=record.plain_data,
                signed_data=record.signed_data,
            )
            for meter_data, (_s, signed, _v) in zip(data_rows, items, strict=True)
            for position, record in enumerate(signed.records, start=1)
        ]
    )


def signed_input_of(meter_data: SignedMeterData) -> SignedMeterInput:
    """The stored signed data as it was sent."""
    return SignedMeterInput(
        encoding_method=meter_data.encoding_method,
        encoding_method_version=meter_data.encoding_method_version,
        public_key=meter_data.public_key,
        url=meter_data.url,
        records=tuple(
            SignedRecord(signed_data=v.signed_data, nature=v.nature, plain_data=v.plain_data)
            for v in meter_data.values.order_by("position")
        ),
    )
