"""Whatever a careless or hostile CPMS sends, the ingest refuses it with field errors: no crash.

Hypothesis feeds the native and CDR validators of the ingest and the tariff and CDR parsers with
records whose fields are sometimes right and often hostile: impossible dates, offsets beyond a
day, the first and last years, numbers like 1e400, lone surrogates, deep nesting, wrong types.
The only exceptions allowed are the validation errors (a rejected item, TariffError, CdrError).
"""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.models import ChargingSession
from sessions.pricing import (
    CdrError,
    PricingError,
    TariffError,
    VatRates,
    parse_cdr,
    parse_tariff,
    price_session,
    split_periods_at_tariff_boundaries,
)
from sessions.services import (
    _Candidate,
    _validate_cdr,
    _validate_native,
    import_tariff,
    ingest_sessions,
)
from tests.factories import EVSEFactory

TARIFF_JSON = {
    "id": "T-1",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": Decimal("0.4"), "step_size": 1}],
            "restrictions": {"start_time": "08:00", "end_time": "20:00", "max_kwh": 20},
        },
        {"price_components": [{"type": "TIME", "price": Decimal("2"), "step_size": 60}]},
    ],
}
TARIFF = parse_tariff(TARIFF_JSON)

NASTY_TIMES = [
    "2026-02-30T10:00:00+01:00",
    "2026-03-02T10:00:00+99:00",
    "2026-03-02T10:00:00-24:00",
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:30:00-01:00",
    "9999-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2026-03-02T25:00:00Z",
    "2026-03-02",
    "2026-03-02T10:00:00",
    "",
    "\ud800",
]
NASTY_NUMBERS = [
    Decimal("1E+400"),
    Decimal("-1E+400"),
    Decimal("1E-400"),
    Decimal("0E-400"),
    Decimal("123456789012345678901234567890.123456789"),
    10**30,
    10**4000,
    -1,
    0,
    "1e400",
    "NaN",
    "Infinity",
    "-0",
    " 7 ",
    True,
]

texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(["\ud800", "\udfff", "\x00"])),
    max_size=12,
)
numbers = st.one_of(
    st.sampled_from(NASTY_NUMBERS),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, max_value=10**6),
)


@st.composite
def times(draw, near: datetime = datetime(2026, 3, 2, 10, tzinfo=UTC)) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(NASTY_TIMES))
    moment = near + timedelta(seconds=draw(st.integers(-(10**8), 10**8)))
    offset = draw(st.sampled_from(["Z", "+01:00", "-05:30", "+14:00", ""]))
    return moment.replace(tzinfo=None).isoformat() + offset


leaves = st.one_of(st.none(), st.booleans(), numbers, texts, times())
anything = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(string.ascii_lowercase, max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def deep(level: int) -> object:
    value: object = "x"
    for _ in range(level):
        value = [value]
    return value


def maybe(strategy):
    """Mostly the right kind of value, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, anything, st.just(deep(400)))


def record(fields: dict) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})


native_records = record(
    {
        "source_id": texts,
        "evse_id": texts,
        "tariff_id": texts,
        "start": times(),
        "end": times(),
        "energy_kwh": numbers,
        "idle_minutes": numbers,
        "token_uid": texts,
        "customer_id": numbers,
        "ad_hoc_email": st.sampled_from(["a@b.de", "x" * 300 + "@b.de", "\ud800@b.de", "no"]),
    }
)
price_components = record(
    {
        "type": st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT", "KWH"]),
        "price": numbers,
        "step_size": numbers,
        "vat": numbers,
    }
)
restrictions = record(
    {
        "start_time": st.sampled_from(["08:00", "20:00", "24:00", "8:00", ""]),
        "end_time": st.sampled_from(["08:00", "20:00", "23:59"]),
        "start_date": st.sampled_from(["2026-02-30", "0001-01-01", "9999-12-31", "2026-03-01"]),
        "end_date": st.sampled_from(["2026-04-01", "9999-12-31"]),
        "min_kwh": numbers,
        "max_kwh": numbers,
        "min_power": numbers,
        "max_power": numbers,
        "min_current": numbers,
        "min_duration": numbers,
        "max_duration": numbers,
        "day_of_week": st.lists(st.sampled_from(["MONDAY", "SUNDAY", "FUNDAY"]), max_size=3),
    }
)
tariffs = record(
    {
        "id": texts,
        "currency": st.sampled_from(["EUR", "eur", "EURO"]),
        "elements": st.lists(
            record({"price_components": st.lists(price_components, max_size=3)}).flatmap(
                lambda element: st.fixed_dictionaries(
                    {}, optional={"restrictions": maybe(restrictions)}
                ).map(lambda extra: {**element, **extra})
            ),
            max_size=3,
        ),
        "min_price": record({"excl_vat": numbers, "incl_vat": numbers}),
        "max_price": record({"excl_vat": numbers}),
        "start_date_time": times(),
        "end_date_time": times(),
    }
)
dimensions = record(
    {
        "type": st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "MAX_POWER", "KWH"]),
        "volume": numbers,
    }
)
periods = record(
    {
        "start_date_time": times(),
        "dimensions": st.lists(dimensions, max_size=3),
        "tariff_id": texts,
    }
)
cdrs = record(
    {
        "id": texts,
        "start_date_time": times(),
        "end_date_time": times(),
        "cdr_location": record({"evse_id": texts}),
        "cdr_token": record({"uid": texts, "type": texts}),
        "tariffs": st.lists(tariffs, max_size=2),
        "charging_periods": st.lists(periods, max_size=4),
        "total_energy": numbers,
    }
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _price_if_accepted(result) -> None:
    """An accepted record must also split and price without anything but a PricingError."""
    if not isinstance(result, _Candidate):
        assert isinstance(result, dict) and result, result
        assert all(isinstance(v, list) and v for v in result.values()), result
        return
    try:
        pieces = split_periods_at_tariff_boundaries(
            result.periods,
            tariff=TARIFF,
            start=result.started_at,
            end=result.ended_at,
            time_zone="Europe/Berlin",
        )
        price_session(
            tariff=TARIFF,
            periods=pieces,
            start=result.started_at,
            end=result.ended_at,
            time_zone="Europe/Berlin",
            vat_rates=VatRates(Decimal(19), Decimal(19)),
        )
    except PricingError:
        pass


@FUZZ
@given(native_records)
def test_the_native_validator_answers_field_errors_for_any_record(data):
    _price_if_accepted(_validate_native(0, data))


@FUZZ
@given(cdrs)
def test_the_cdr_validator_answers_field_errors_for_any_cdr(data):
    _price_if_accepted(_validate_cdr(0, data))


@FUZZ
@given(st.one_of(tariffs, anything))
def test_the_tariff_parser_raises_only_tariff_errors(data):
    with contextlib.suppress(TariffError):
        parse_tariff(data)


@FUZZ
@given(st.one_of(cdrs, anything))
def test_the_cdr_parser_raises_only_cdr_errors(data):
    with contextlib.suppress(CdrError):
        parse_cdr(data)


HOSTILE_FIELDS = [
    ("source_id", "\ud800", "source_id"),
    ("source_id", 10**5000, "source_id"),
    ("source_id", [[["x"]]], "source_id"),
    ("customer_id", 10**30, "customer_id"),
    ("token_uid", "\udfff", "token_uid"),
    ("energy_kwh", Decimal("1E+400"), "energy_kwh"),
    ("idle_minutes", "1e400", "idle_minutes"),
    ("start", "0001-01-01T00:30:00+01:00", "start"),
    ("end", "9999-12-31T23:30:00-01:00", "end"),
    ("end", "2026-03-02T10:00:00+99:00", "end"),
    ("extra", deep(400), "extra"),
]


@pytest.mark.parametrize(
    ("name", "value", "field"),
    HOSTILE_FIELDS,
    ids=[f"{name}-{i}" for i, (name, _value, _field) in enumerate(HOSTILE_FIELDS)],
)
def test_the_ingest_rejects_a_hostile_item_and_stores_its_neighbours(operator, name, value, field):
    """What the commands send straight to the service (no API parser in front of it)."""
    EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")
    import_tariff(operator=operator, data=TARIFF_JSON)
    good = {
        "source_id": "S-1",
        "evse_id": "DE*VWY*E000001",
        "tariff_id": "T-1",
        "start": "2026-03-02T10:00:00+01:00",
        "end": "2026-03-02T11:00:00+01:00",
        "energy_kwh": "10",
    }

    first, hostile, last = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[good, {**good, "source_id": "S-2", name: value}, {**good, "source_id": "S-3"}],
    )

    assert (first.status, last.status) == ("created", "created")
    assert hostile.status == "rejected"
    assert any(key.startswith(field) for key in hostile.errors), hostile.errors
    assert hostile.source_id in ("S-2", "")
    assert sorted(ChargingSession.objects.values_list("source_id", flat=True)) == ["S-1", "S-3"]
