"""OCPI 2.2.1 pricing rules, what is charged: step sizes, min/max price, VAT, breakdown lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cpo_portal.kernel.money import round_quantity
from sessions.pricing import (
    CdrError,
    ChargingPeriod,
    PricingError,
    TariffError,
    VatRates,
    parse_cdr,
    parse_tariff,
    periods_from_native,
    price_session,
)
from tests.sessions.pricing.builders import (
    DAY_NIGHT,
    NO_VAT,
    OPERATOR_VAT,
    D,
    at,
    charging_time,
    element,
    energy,
    flat,
    parking,
    period,
    price,
    tariff,
)


# --- step sizes ---------------------------------------------------------------------------------
def test_snapping_parking_to_the_measured_second_never_bills_a_negative_duration():
    # 2.0287 h is 7,303.32 s: the session bills 7,303 s, and the 0.32 s taken back must not
    # become a line of -0.01 minute at the price that applied last (found by test_properties).
    session = price(
        tariff(element(parking("6.00", step=1), min_duration=60), element(parking("0.00", step=0))),
        [
            period("2024-01-15T10:00:00Z", parking_time="2.0287"),
            period("2024-01-15T10:01:00Z", parking_time="0.0000"),
        ],
    )
    assert [(line.quantity, line.net) for line in session.lines] == [(D("121.72"), D("0.00"))]


def test_energy_step_size_rounds_the_session_total_up_once():
    session = price(
        tariff(element(energy("0.30", step=1000))),
        [
            period("2024-01-15T10:00:00Z", energy="0.4"),
            period("2024-01-15T10:30:00Z", energy="0.4"),
        ],
    )
    # 0.8 kWh rounds up to 1 kWh for the session, not 1 kWh per period.
    assert session.totals.total_energy_cost.excl_vat == D("0.30")
    assert session.totals.total_energy == D("0.8")
    assert session.lines[0].quantity == D("1.000")


def test_time_step_size_rounds_charging_time_when_there_is_no_parking():
    session = price(
        tariff(element(charging_time("1.20", step=900))),
        [period("2024-01-15T10:00:00Z", time="0.5"), period("2024-01-15T10:30:00Z", time="0.1")],
    )
    # 36 minutes are billed as 45.
    assert session.totals.total_time_cost.excl_vat == D("0.90")
    assert session.lines[0].quantity == D("45.00")


def test_only_parking_time_is_rounded_when_time_and_parking_both_occur():
    session = price(
        tariff(element(charging_time("1.20", step=900), parking("2.40", step=600))),
        [
            period("2024-01-15T10:00:00Z", time="0.1"),
            period("2024-01-15T10:06:00Z", parking_time="0.1"),
        ],
    )
    assert session.totals.total_time_cost.excl_vat == D("0.12")  # 6 minutes, not rounded
    assert session.totals.total_parking_cost.excl_vat == D("0.40")  # 6 minutes billed as 10
    assert session.totals.total_parking_time == D("0.1")


DAY_NIGHT_STEP = tariff(
    element(energy("0.40", step=1000), start_time="07:00", end_time="22:00"),
    element(energy("0.30", step=1000), start_time="22:00", end_time="07:00"),
)


def test_the_rounded_up_extra_is_billed_at_the_last_price_that_applied():
    session = price(
        DAY_NIGHT_STEP,
        [
            period("2024-01-15T21:00:00Z", energy="1.2"),
            period("2024-01-15T22:00:00Z", energy="1.2"),
        ],
    )
    # 2.4 kWh rounds up to 3 kWh; the extra 0.6 kWh is billed at the night price.
    assert session.totals.total_energy_cost.excl_vat == D("1.2") * D("0.40") + D("1.8") * D("0.30")


# --- min and max price --------------------------------------------------------------------------


def test_min_price_raises_the_total_and_keeps_the_component_costs():
    session = price(
        tariff(element(energy("0.25")), min_price={"excl_vat": D("2.00"), "incl_vat": D("2.38")}),
        [period("2024-01-15T10:00:00Z", energy="4")],
    )
    totals = session.totals
    assert (totals.total_cost.excl_vat, totals.total_cost.incl_vat) == (D("2.00"), D("2.38"))
    assert totals.total_energy_cost.excl_vat == D("1.00")
    adjustment = session.lines[-1]
    assert (adjustment.component, adjustment.unit, adjustment.quantity) == (
        "price_adjustment",
        "package",
        D("1"),
    )
    assert adjustment.net == D("1.00")


def test_min_price_without_incl_vat_keeps_the_ocpi_total_and_tops_up_what_it_raises():
    session = price(
        tariff(element(energy("0.25", vat="10")), min_price={"excl_vat": D("2.00")}),
        [period("2024-01-15T10:00:00Z", energy="4")],
        vat_rates=VatRates(electricity=D("19"), services=D("20")),
    )
    # The OCPI total is unchanged: 1.00 energy at 10 % plus 1.00 difference at 20 %.
    assert session.totals.total_cost.incl_vat == D("1.10") + D("1.20")
    # The breakdown apportions the top-up to what it raises (issue 17, point 3): all energy.
    adjustment = session.lines[-1]
    assert (adjustment.vat_category, adjustment.vat_rate, adjustment.net, adjustment.vat) == (
        "electricity",
        D("10"),
        D("1.00"),
        D("0.10"),
    )


def test_min_price_on_a_session_without_charged_lines_is_a_service():
    session = price(
        tariff(element(energy("0.25")), min_price={"excl_vat": D("2.00")}),
        [period("2024-01-15T10:00:00Z", energy="0")],
        vat_rates=VatRates(electricity=D("19"), services=D("20")),
    )
    (adjustment,) = [line for line in session.lines if line.component == "price_adjustment"]
    assert (adjustment.vat_category, adjustment.vat_rate, adjustment.net) == (
        "services",
        D("20"),
        D("2.00"),
    )


def test_max_price_caps_the_total_with_adjustments_pro_rata_to_what_it_caps():
    session = price(
        tariff(element(flat("1.00"), energy("0.50")), max_price={"excl_vat": D("10.00")}),
        [period("2024-01-15T10:00:00Z", energy="40")],
        vat_rates=VatRates(electricity=D("19"), services=D("7")),
    )
    totals = session.totals
    assert totals.total_cost.excl_vat == D("10.00")
    assert totals.total_energy_cost.excl_vat == D("20.00")
    assert totals.total_fixed_cost.excl_vat == D("1.00")
    adjustments = [
        (line.vat_category, line.vat_rate, line.net)
        for line in session.lines
        if line.component == "price_adjustment"
    ]
    # -11.00 split 20 : 1 between energy (19 %) and the connection fee (7 %): no rate's net
    # turns negative, so no VAT row does.
    assert adjustments == [("electricity", D("19"), D("-10.48")), ("services", D("7"), D("-0.52"))]
    assert sum(line.net for line in session.lines) == D("10.00")


def test_max_price_without_incl_vat_keeps_the_vat_share_of_what_it_caps():
    session = price(
        tariff(
            element(energy("0.50", vat="0"), flat("10.00", vat="20")),
            max_price={"excl_vat": D("15")},
        ),
        [period("2024-01-15T10:00:00Z", energy="20")],
        vat_rates=OPERATOR_VAT,
    )
    # 20.00 excl / 22.00 incl capped to 15.00 excl keeps the ratio: 16.50 incl.
    assert session.totals.total_cost.excl_vat == D("15")
    assert session.totals.total_cost.incl_vat == D("16.50")


def test_a_total_between_min_and_max_price_is_not_adjusted():
    session = price(
        tariff(
            element(energy("0.50")),
            min_price={"excl_vat": D("1")},
            max_price={"excl_vat": D("10")},
        ),
        [period("2024-01-15T10:00:00Z", energy="4")],
    )
    assert session.totals.total_cost.excl_vat == D("2.00")
    assert all(line.component != "price_adjustment" for line in session.lines)


# --- VAT ----------------------------------------------------------------------------------------


def test_components_without_vat_use_the_operator_rate_of_their_category():
    session = price(
        tariff(element(energy("0.30"), charging_time("1.20"), parking("6.00"), flat("1.00"))),
        [
            period("2024-01-15T10:00:00Z", energy="10", time="1"),
            period("2024-01-15T11:00:00Z", parking_time="0.5"),
        ],
        vat_rates=OPERATOR_VAT,
    )
    rates = {line.component: (line.vat_category, line.vat_rate) for line in session.lines}
    assert rates == {
        "energy": ("electricity", D("19")),
        "charging_time": ("services", D("7")),
        "parking_time": ("services", D("7")),
        "connection_fee": ("services", D("7")),
    }
    assert session.totals.total_energy_cost.incl_vat == D("3.00") * D("1.19")
    assert session.totals.total_time_cost.incl_vat == D("1.20") * D("1.07")


def test_a_component_vat_always_wins_even_when_it_is_zero():
    session = price(
        tariff(element(energy("0.30", vat="0"), parking("6.00", vat="10"))),
        [
            period("2024-01-15T10:00:00Z", energy="10"),
            period("2024-01-15T11:00:00Z", parking_time="0.5"),
        ],
        vat_rates=OPERATOR_VAT,
    )
    assert [(line.component, line.vat_rate) for line in session.lines] == [
        ("energy", D("0")),
        ("parking_time", D("10")),
    ]
    assert session.totals.total_energy_cost.incl_vat == D("3.00")
    assert session.totals.total_parking_cost.incl_vat == D("3.30")


def test_each_line_computes_its_vat_on_its_net_amount_in_cents():
    session = price(
        tariff(element(energy("0.333"))),
        [period("2024-01-15T10:00:00Z", energy="10")],
        vat_rates=OPERATOR_VAT,
    )
    (line,) = session.lines
    assert (line.net, line.vat, line.gross) == (D("3.33"), D("0.63"), D("3.96"))


# --- breakdown lines ----------------------------------------------------------------------------


def test_one_line_per_price_shows_the_day_night_split():
    session = price(
        DAY_NIGHT,
        [
            period("2024-01-15T21:00:00Z", energy="10"),
            period("2024-01-15T22:00:00Z", energy="5"),
            period("2024-01-15T23:00:00Z", energy="5"),
        ],
    )
    energy_lines = [(line.quantity, line.unit_price, line.net) for line in session.lines]
    assert energy_lines == [
        (D("10.000"), D("0.40"), D("4.00")),
        (D("10.000"), D("0.30"), D("3.00")),
    ]


def test_time_lines_are_in_minutes_with_the_hourly_price_per_minute():
    session = price(
        tariff(element(charging_time("2.00"), parking("5.00"))),
        [
            period("2024-01-15T10:00:00Z", time="1.5"),
            period("2024-01-15T11:30:00Z", parking_time="0.25"),
        ],
    )
    lines = [
        (line.component, line.quantity, line.unit, line.unit_price, line.net)
        for line in session.lines
    ]
    assert lines == [
        ("charging_time", D("90.00"), "minute", D("0.033333"), D("3.00")),
        ("parking_time", D("15.00"), "minute", D("0.083333"), D("1.25")),
    ]


def test_lines_with_zero_quantity_are_omitted():
    session = price(
        tariff(element(energy("0.30"), charging_time("1.00"))),
        [period("2024-01-15T10:00:00Z", energy="10", time="0")],
    )
    assert [line.component for line in session.lines] == ["energy"]


def test_breakdown_lines_sum_to_the_total_excl_vat():
    session = price(
        tariff(
            element(flat("0.99"), energy("0.379"), charging_time("0.60"), parking("4.80", step=300))
        ),
        [
            period("2024-01-15T10:00:00Z", energy="17.777", time="1.3333"),
            period("2024-01-15T11:20:00Z", parking_time="0.3333"),
        ],
        vat_rates=OPERATOR_VAT,
    )
    net = sum(line.net for line in session.lines)
    assert abs(net - session.totals.total_cost.excl_vat) <= D("0.005") * len(session.lines)
    for line in session.lines:
        assert line.gross == line.net + line.vat


def test_to_ocpi_json_gives_every_number_as_a_string():
    session = price(
        tariff(element(flat("1.00"), energy("0.25", vat="10"))),
        [period("2024-01-15T10:00:00Z", energy="20")],
    )
    data = session.to_ocpi_json()
    assert list(data) == [
        "total_cost",
        "total_fixed_cost",
        "total_energy",
        "total_energy_cost",
        "total_time",
        "total_time_cost",
        "total_parking_time",
        "total_parking_cost",
        "total_reservation_cost",
        "lines",
    ]
    assert data["total_cost"] == {"excl_vat": "6.0000", "incl_vat": "6.5000"}
    assert data["total_energy"] == "20.0000"
    assert data["total_time"] == "1.0000"
    assert data["lines"][0] == {
        "component": "energy",
        "quantity": "20.000",
        "unit": "kWh",
        "unit_price": "0.25",
        "net": "5.00",
        "vat_category": "electricity",
        "vat_rate": "10",
        "vat": "0.50",
        "gross": "5.50",
    }


# --- tariff validation --------------------------------------------------------------------------


def valid_tariff() -> dict:
    return {
        "id": "T1",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [energy("0.30"), charging_time("1.20", step=60)],
                "restrictions": {"start_time": "08:00", "end_time": "20:00"},
            }
        ],
    }


def test_a_tariff_keeps_its_extra_ocpi_fields_out_of_the_model_without_complaint():
    data = valid_tariff() | {
        "country_code": "DE",
        "party_id": "ABC",
        "tariff_alt_text": [{"language": "en", "text": "0.30/kWh"}],
        "energy_mix": {"is_green_energy": True},
        "last_updated": "2024-01-01T00:00:00Z",
    }
    assert parse_tariff(data).id == "T1"


INVALID_TARIFFS = [
    (
        lambda t: t["elements"][0]["price_components"][1].update(step_size=-1),
        "elements[0].price_components[1].step_size: must be a non-negative integer",
    ),
    (
        lambda t: t["elements"][0]["price_components"][1].update(step_size=D("1.5")),
        "elements[0].price_components[1].step_size: must be a non-negative integer",
    ),
    (
        lambda t: t["elements"][0]["price_components"][0].update(type="KWH"),
        "elements[0].price_components[0].type: must be one of ENERGY, FLAT, PARKING_TIME, TIME",
    ),
    (
        lambda t: t["elements"][0]["price_components"][0].update(price="0.30"),
        "elements[0].price_components[0].price: must be a number",
    ),
    (
        lambda t: t["elements"][0]["price_components"][0].update(price=D("-1")),
        "elements[0].price_components[0].price: must be at least 0",
    ),
    (
        lambda t: t["elements"][0]["price_components"][0].update(vat=D("119")),
        "elements[0].price_components[0].vat: must be a percentage between 0 and 100",
    ),
    (
        lambda t: t["elements"][0]["price_components"][0].pop("step_size"),
        "elements[0].price_components[0].step_size: is required",
    ),
    (lambda t: t.update(elements=[]), "elements: must be a non-empty list"),
    (lambda t: t.update(currency="euro"), "currency: must be an ISO 4217 code"),
    (lambda t: t.pop("id"), "id: must be a non-empty string"),
    (
        lambda t: t["elements"][0]["restrictions"].update(start_time="8:00"),
        "elements[0].restrictions.start_time: must be a local time HH:MM",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(end_time="24:00"),
        "elements[0].restrictions.end_time: must be a local time HH:MM",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(end_time="08:00"),
        "elements[0].restrictions.end_time: must differ from start_time",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(start_date="2024-02-30"),
        "elements[0].restrictions.start_date: must be a date YYYY-MM-DD",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(day_of_week=["MON"]),
        "elements[0].restrictions.day_of_week[0]: must be one of MONDAY",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(max_kwh=D("10"), min_kwh=D("20")),
        "elements[0].restrictions.max_kwh: must be greater than min_kwh",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(min_duration=D("1.5")),
        "elements[0].restrictions.min_duration: must be a non-negative integer (seconds)",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(max_kWh=D("10")),
        "elements[0].restrictions.max_kWh: is not an OCPI 2.2.1 tariff restriction",
    ),
    (
        lambda t: t["elements"][0]["restrictions"].update(reservation="YES"),
        "elements[0].restrictions.reservation: must be RESERVATION or RESERVATION_EXPIRES",
    ),
    (
        lambda t: t.update(min_price={"excl_vat": D("5")}, max_price={"excl_vat": D("2")}),
        "min_price.excl_vat: 5 is above max_price.excl_vat 2",
    ),
    (
        lambda t: t.update(min_price={"excl_vat": D("5"), "incl_vat": D("4")}),
        "min_price.incl_vat: 4 is below excl_vat 5",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"), INVALID_TARIFFS, ids=[m for _, m in INVALID_TARIFFS]
)
def test_an_invalid_tariff_is_refused_with_a_message_naming_the_json_path(mutate, message):
    data = valid_tariff()
    mutate(data)
    with pytest.raises(TariffError, match="^" + re.escape(message)):
        parse_tariff(data)


def test_tariff_errors_are_pricing_errors_and_value_errors():
    with pytest.raises(PricingError):
        parse_tariff({"currency": "EUR"})
    with pytest.raises(ValueError, match="tariff: must be a JSON object"):
        parse_tariff([])  # type: ignore[arg-type]


# --- CDR parsing ------------------------------------------------------------------------------


def valid_cdr() -> dict:
    return {
        "start_date_time": "2024-01-15T10:00:00Z",
        "end_date_time": "2024-01-15T11:00:00+01:00",
        "charging_periods": [
            {
                "start_date_time": "2024-01-15T10:00:00Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": D("1.5")},
                    {"type": "TIME", "volume": 0},
                ],
            }
        ],
    }


def test_a_cdr_is_read_with_utc_times_and_exact_volumes():
    cdr = parse_cdr(valid_cdr())
    assert cdr.start == datetime(2024, 1, 15, 10, tzinfo=UTC)
    assert cdr.end == cdr.start  # 11:00+01:00 is 10:00 UTC
    assert cdr.periods[0].dimensions == {"ENERGY": D("1.5"), "TIME": D("0")}


INVALID_CDRS = [
    (lambda c: c.pop("end_date_time"), "end_date_time: is required"),
    (
        lambda c: c.update(start_date_time="yesterday"),
        "start_date_time: 'yesterday' is not an RFC 3339",
    ),
    (lambda c: c.update(charging_periods=[]), "charging_periods: must be a non-empty list"),
    (
        lambda c: c["charging_periods"][0]["dimensions"][0].update(type="KWH"),
        "charging_periods[0].dimensions[0].type: 'KWH' is not an OCPI 2.2.1 CDR dimension type",
    ),
    (
        lambda c: c["charging_periods"][0]["dimensions"][0].update(volume=D("-1")),
        "charging_periods[0].dimensions[0].volume: must be at least 0",
    ),
    (
        lambda c: c["charging_periods"][0].update(start_date_time="2024-01-15T12:00:00Z"),
        "charging_periods[0].start_date_time: 2024-01-15T12:00:00+00:00 is outside the session",
    ),
    (
        lambda c: c.update(end_date_time="2024-01-15T09:00:00Z"),
        "end_date_time: 2024-01-15T09:00:00+00:00 is before start_date_time",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), INVALID_CDRS, ids=[m for _, m in INVALID_CDRS])
def test_an_invalid_cdr_is_refused_with_a_message_naming_the_json_path(mutate, message):
    data = valid_cdr()
    mutate(data)
    with pytest.raises(CdrError, match="^" + re.escape(message)):
        parse_cdr(data)


# --- native records -----------------------------------------------------------------------------


def test_a_native_record_becomes_a_charging_period_then_a_parking_period():
    periods = periods_from_native(
        start=at("2024-01-15T10:00:00Z"),
        end=at("2024-01-15T12:00:00Z"),
        energy_kwh=D("30.5"),
        idle_minutes=D("30"),
        max_power_kw=D("22"),
    )
    assert periods == [
        ChargingPeriod(
            at("2024-01-15T10:00:00Z"),
            {"TIME": D("1.5"), "ENERGY": D("30.5"), "MAX_POWER": D("22")},
        ),
        ChargingPeriod(at("2024-01-15T11:30:00Z"), {"PARKING_TIME": D("0.5")}),
    ]


def test_a_native_record_without_idle_time_is_one_charging_period():
    periods = periods_from_native(
        start=at("2024-01-15T10:00:00+01:00"),
        end=at("2024-01-15T10:45:00+01:00"),
        energy_kwh=D("10"),
        idle_minutes=D("0"),
    )
    assert periods == [
        ChargingPeriod(at("2024-01-15T09:00:00Z"), {"TIME": D("0.75"), "ENERGY": D("10")})
    ]


def test_a_native_record_prices_like_the_equivalent_cdr():
    idle_tariff = tariff(element(energy("0.30"), parking("6.00", step=300)))
    periods = periods_from_native(
        start=at("2024-01-15T10:00:00Z"),
        end=at("2024-01-15T11:07:00Z"),
        energy_kwh=D("20"),
        idle_minutes=D("7"),
    )
    session = price(idle_tariff, periods, end="2024-01-15T11:07:00Z")
    # 7 idle minutes billed as 10 (step 300 s) at 6.00/h.
    assert session.totals.total_cost.excl_vat == D("6.00") + D("1.00")
    assert round_quantity(session.totals.total_time, D("0.0001")) == D("1.1167")  # 67 minutes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"idle_minutes": D("61")}, "idle_minutes: 61 minutes of idle time exceed the session"),
        ({"end": at("2024-01-15T09:00:00Z")}, "end: 2024-01-15T09:00:00+00:00 is before start"),
        ({"energy_kwh": D("-1")}, "energy_kwh: must not be negative"),
        ({"idle_minutes": D("-1")}, "idle_minutes: must not be negative"),
        ({"start": datetime(2024, 1, 15, 10)}, "start: must be a time-zone-aware datetime"),
    ],
)
def test_an_impossible_native_record_is_refused(kwargs, message):
    arguments = {
        "start": at("2024-01-15T10:00:00Z"),
        "end": at("2024-01-15T11:00:00Z"),
        "energy_kwh": D("10"),
        "idle_minutes": D("0"),
    } | kwargs
    with pytest.raises(CdrError, match="^" + re.escape(message)):
        periods_from_native(**arguments)


# --- price_session arguments --------------------------------------------------------------------


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(
        PricingError, match="time_zone: 'Mars/Olympus' is not a known IANA time zone"
    ):
        price(DAY_NIGHT, [period("2024-01-15T10:00:00Z", energy="1")], time_zone="Mars/Olympus")


def test_naive_datetimes_are_refused():
    with pytest.raises(CdrError, match="start: must be a time-zone-aware datetime"):
        price_session(
            tariff=DAY_NIGHT,
            periods=[],
            start=datetime(2024, 1, 15, 10),
            end=at("2024-01-15T11:00:00Z"),
            vat_rates=NO_VAT,
        )


def test_a_period_outside_the_session_is_refused():
    with pytest.raises(CdrError, match=r"charging_periods\[0\].start: .* is outside the session"):
        price(
            DAY_NIGHT,
            [period("2024-01-15T12:00:00Z", energy="1")],
            start="2024-01-15T10:00:00Z",
            end="2024-01-15T11:00:00Z",
        )
