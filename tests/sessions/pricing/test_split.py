"""Native records are cut where the tariff can change, so each piece is priced at its own rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.pricing import (
    ChargingPeriod,
    VatRates,
    parse_tariff,
    periods_from_native,
    price_session,
    split_periods_at_tariff_boundaries,
)

D = Decimal
BERLIN = "Europe/Berlin"
NO_VAT = VatRates(electricity=D("0"), services=D("0"))
VOLUMES = ("ENERGY", "TIME", "PARKING_TIME")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tariff(*elements: dict):
    return parse_tariff({"id": "T", "currency": "EUR", "elements": list(elements)})


def energy_element(price: str, step: int = 1, **restrictions: object) -> dict:
    data: dict = {"price_components": [{"type": "ENERGY", "price": D(price), "step_size": step}]}
    if restrictions:
        data["restrictions"] = restrictions
    return data


DAY_NIGHT = tariff(
    energy_element("0.60", start_time="07:00", end_time="22:00"),
    energy_element("0.40"),
)


def native(start: str, end: str, kwh: str = "20", idle: str = "0", **extra) -> dict:
    """A native record's periods plus what the split needs to know about the session."""
    begin, finish = at(start), at(end)
    periods = periods_from_native(
        start=begin, end=finish, energy_kwh=D(kwh), idle_minutes=D(idle), **extra
    )
    return {"periods": periods, "start": begin, "end": finish}


def split(session: dict, the_tariff=DAY_NIGHT, time_zone: str = BERLIN) -> list[ChargingPeriod]:
    return split_periods_at_tariff_boundaries(
        session["periods"],
        tariff=the_tariff,
        start=session["start"],
        end=session["end"],
        time_zone=time_zone,
    )


def starts(periods: list[ChargingPeriod]) -> list[str]:
    return [p.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") for p in periods]


def volumes(periods: list[ChargingPeriod], name: str) -> list[Decimal]:
    return [p.dimensions[name] for p in periods if name in p.dimensions]


def exact_sum(values: list[Decimal]) -> Decimal:
    """A sum that cannot round (the default context keeps only 28 digits)."""
    with localcontext(Context(prec=200)):
        return sum(values, D(0))


def micros(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def price(periods: list[ChargingPeriod], session: dict, the_tariff=DAY_NIGHT, zone=BERLIN):
    return price_session(
        tariff=the_tariff,
        periods=periods,
        start=session["start"],
        end=session["end"],
        time_zone=zone,
        vat_rates=NO_VAT,
    )


# --- what is left alone -------------------------------------------------------------------------


def test_a_session_without_a_boundary_is_returned_as_the_same_period_objects():
    session = native("2026-01-15T10:00:00+01:00", "2026-01-15T12:00:00+01:00", idle="30")
    result = split(session)
    assert len(result) == len(session["periods"]) == 2
    assert all(new is old for new, old in zip(result, session["periods"], strict=True))


def test_a_tariff_without_restrictions_never_splits():
    flat_rate = tariff(energy_element("0.39"))
    session = native("2026-01-15T06:00:00+01:00", "2026-01-16T23:00:00+01:00")
    result = split(session, flat_rate)
    assert all(new is old for new, old in zip(result, session["periods"], strict=True))


def test_a_boundary_at_the_very_start_or_end_of_the_session_does_not_cut():
    session = native("2026-01-15T07:00:00+01:00", "2026-01-15T22:00:00+01:00")
    assert split(session) == session["periods"]


# --- local times of day -------------------------------------------------------------------------


def test_22_00_in_berlin_is_21_00_utc_in_winter():
    session = native("2026-01-15T21:00:00+01:00", "2026-01-15T23:00:00+01:00")
    result = split(session)
    assert starts(result) == ["2026-01-15T20:00:00", "2026-01-15T21:00:00"]
    assert volumes(result, "ENERGY") == [D("10"), D("10")]
    assert volumes(result, "TIME") == [D("1"), D("1")]


def test_22_00_in_berlin_is_20_00_utc_in_summer():
    session = native("2026-07-15T21:00:00+02:00", "2026-07-15T23:00:00+02:00")
    result = split(session)
    assert starts(result) == ["2026-07-15T19:00:00", "2026-07-15T20:00:00"]
    assert volumes(result, "ENERGY") == [D("10"), D("10")]


def test_the_same_session_is_not_cut_when_the_location_is_in_utc():
    session = native("2026-01-15T21:00:00+01:00", "2026-01-15T23:00:00+01:00")
    assert split(session, time_zone="UTC") == session["periods"]


def test_a_range_wrapping_midnight_cuts_at_its_two_ends_and_not_at_midnight():
    night = tariff(
        energy_element("0.30", start_time="22:00", end_time="06:00"),
        energy_element("0.50"),
    )
    session = native("2026-01-15T20:00:00+01:00", "2026-01-16T08:00:00+01:00", kwh="12")
    result = split(session, night)
    assert starts(result) == [
        "2026-01-15T19:00:00",
        "2026-01-15T21:00:00",  # 22:00 local
        "2026-01-16T05:00:00",  # 06:00 local
    ]
    assert volumes(result, "ENERGY") == [D("2"), D("8"), D("2")]
    assert price(result, session, night).totals.total_energy_cost.excl_vat == D("4.40")


def test_a_session_over_several_days_is_cut_at_every_occurrence():
    session = native("2026-01-15T06:00:00+01:00", "2026-01-17T06:00:00+01:00", kwh="48")
    result = split(session)
    # 07:00 and 22:00 local on both days.
    assert starts(result) == [
        "2026-01-15T05:00:00",
        "2026-01-15T06:00:00",
        "2026-01-15T21:00:00",
        "2026-01-16T06:00:00",
        "2026-01-16T21:00:00",
    ]
    assert volumes(result, "ENERGY") == [D("1"), D("15"), D("9"), D("15"), D("8")]


def test_date_and_weekday_restrictions_cut_at_local_midnight():
    weekend = tariff(
        energy_element("0.25", day_of_week=["SATURDAY", "SUNDAY"]),
        energy_element("0.40"),
    )
    # Friday 2026-01-16 23:00 to Saturday 01:00, Berlin time.
    session = native("2026-01-16T23:00:00+01:00", "2026-01-17T01:00:00+01:00", kwh="10")
    result = split(session, weekend)
    assert starts(result) == ["2026-01-16T22:00:00", "2026-01-16T23:00:00"]
    assert price(result, session, weekend).totals.total_energy_cost.excl_vat == D("3.25")


def test_a_promotion_from_a_start_date_cuts_at_its_first_local_midnight():
    promo = tariff(energy_element("0.10", start_date="2026-05-01"), energy_element("0.40"))
    session = native("2026-04-30T23:30:00+02:00", "2026-05-01T00:30:00+02:00", kwh="10")
    result = split(session, promo)
    assert starts(result) == ["2026-04-30T21:30:00", "2026-04-30T22:00:00"]
    assert price(result, session, promo).totals.total_energy_cost.excl_vat == D("2.50")


# --- daylight saving ----------------------------------------------------------------------------


def test_the_spring_night_is_an_hour_shorter_in_real_time():
    # 21:00 CET on 28 March 2026 to 08:00 CEST on the 29th: 10 real hours, 8 of them at night.
    session = native("2026-03-28T21:00:00+01:00", "2026-03-29T08:00:00+02:00", kwh="10")
    result = split(session)
    assert starts(result) == ["2026-03-28T20:00:00", "2026-03-28T21:00:00", "2026-03-29T05:00:00"]
    assert volumes(result, "TIME") == [D("1"), D("8"), D("1")]
    assert volumes(result, "ENERGY") == [D("1"), D("8"), D("1")]


def test_the_autumn_night_is_an_hour_longer_in_real_time():
    # 21:00 CEST on 24 October 2026 to 08:00 CET on the 25th: 12 real hours, 10 at night.
    session = native("2026-10-24T21:00:00+02:00", "2026-10-25T08:00:00+01:00", kwh="12")
    result = split(session)
    assert starts(result) == ["2026-10-24T19:00:00", "2026-10-24T20:00:00", "2026-10-25T06:00:00"]
    assert volumes(result, "ENERGY") == [D("1"), D("10"), D("1")]


def test_a_time_the_spring_switch_skips_takes_effect_at_the_switch():
    # 02:30 does not exist on 29 March 2026 in Berlin: at 01:00 UTC the clock goes 02:00 -> 03:00.
    early = tariff(
        energy_element("0.20", start_time="02:30", end_time="05:00"), energy_element("1")
    )
    session = native("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z", kwh="10")
    result = split(session, early)
    assert starts(result) == ["2026-03-29T00:00:00", "2026-03-29T01:00:00"]
    assert volumes(result, "ENERGY") == [D("5"), D("5")]
    assert price(result, session, early).totals.total_energy_cost.excl_vat == D("6.00")


def test_a_time_the_autumn_switch_repeats_is_a_boundary_both_times_and_at_the_switch():
    # On 25 October 2026 02:30 happens at 00:30 UTC (CEST) and at 01:30 UTC (CET); at 01:00 UTC
    # the clock goes back from 03:00 to 02:00, so 02:30-03:00 stops applying for half an hour.
    repeated = tariff(
        energy_element("0.20", start_time="02:30", end_time="03:00"), energy_element("1")
    )
    session = native("2026-10-25T00:00:00Z", "2026-10-25T02:30:00Z", kwh="10")
    result = split(session, repeated)
    assert starts(result) == [
        "2026-10-25T00:00:00",
        "2026-10-25T00:30:00",
        "2026-10-25T01:00:00",
        "2026-10-25T01:30:00",
        "2026-10-25T02:00:00",
    ]
    # 4 kWh/h: 1 hour at 0.20 (02:30-03:00 twice) and 1.5 hours at 1.00 = 0.80 + 6.00.
    assert price(result, session, repeated).totals.total_energy_cost.excl_vat == D("6.80")


# --- durations and energy -----------------------------------------------------------------------


def test_a_min_duration_cuts_the_parking_at_the_elapsed_threshold():
    idle_fee = parse_tariff(
        {
            "id": "IDLE",
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [
                        {"type": "PARKING_TIME", "price": D("6.00"), "step_size": 1}
                    ],
                    "restrictions": {"min_duration": 10800},
                },
                {
                    "price_components": [
                        {"type": "ENERGY", "price": D("0.49"), "step_size": 1},
                        {"type": "PARKING_TIME", "price": D("0"), "step_size": 1},
                    ]
                },
            ],
        }
    )
    # Charging 2 h, then 2 h idle: the idle fee is due from 3 h after the start.
    session = native("2026-01-15T10:00:00Z", "2026-01-15T14:00:00Z", kwh="30", idle="120")
    result = split(session, idle_fee, "UTC")
    assert starts(result) == ["2026-01-15T10:00:00", "2026-01-15T12:00:00", "2026-01-15T13:00:00"]
    assert volumes(result, "PARKING_TIME") == [D("1"), D("1")]
    assert price(result, session, idle_fee, "UTC").totals.total_parking_cost.excl_vat == D("6")
    # Unsplit, the parking period started before the threshold and was free entirely.
    unsplit = price(session["periods"], session, idle_fee, "UTC")
    assert unsplit.totals.total_parking_cost.excl_vat == D("0")


def test_a_max_duration_cuts_the_charging_at_the_elapsed_threshold():
    first_hour_cheap = tariff(energy_element("0.20", max_duration=3600), energy_element("0.50"))
    session = native("2026-01-15T10:00:00Z", "2026-01-15T13:00:00Z", kwh="30")
    result = split(session, first_hour_cheap, "UTC")
    assert starts(result) == ["2026-01-15T10:00:00", "2026-01-15T11:00:00"]
    assert volumes(result, "ENERGY") == [D("10"), D("20")]
    priced = price(result, session, first_hour_cheap, "UTC")
    assert priced.totals.total_energy_cost.excl_vat == D("12.00")


def test_durations_count_real_seconds_across_a_daylight_saving_switch():
    first_hours = tariff(energy_element("0.20", max_duration=7200), energy_element("0.50"))
    # 01:00 CET to 05:00 CEST is 3 real hours; the threshold is 2 real hours after the start.
    session = native("2026-03-29T01:00:00+01:00", "2026-03-29T05:00:00+02:00", kwh="30")
    result = split(session, first_hours)
    assert starts(result) == ["2026-03-29T00:00:00", "2026-03-29T02:00:00"]
    assert volumes(result, "ENERGY") == [D("20"), D("10")]


def test_a_kwh_threshold_cuts_where_the_energy_reaches_it_at_constant_power():
    first_kwh_free = tariff(
        energy_element("0.00", max_kwh=D("1")), energy_element("0.20", min_kwh=D("1"))
    )
    session = native("2026-01-15T10:00:00Z", "2026-01-15T11:00:00Z", kwh="5")
    result = split(session, first_kwh_free, "UTC")
    assert starts(result) == ["2026-01-15T10:00:00", "2026-01-15T10:12:00"]
    assert volumes(result, "ENERGY") == [D("1"), D("4")]
    priced = price(result, session, first_kwh_free, "UTC")
    assert priced.totals.total_energy_cost.excl_vat == D("0.80")


def test_a_kwh_threshold_met_between_microseconds_is_reached_exactly_at_the_cut():
    third_kwh = tariff(energy_element("0.00", max_kwh=D("1")), energy_element("0.30"))
    # 1 kWh of 3 in one second is reached after 333,333.3 microseconds: the cut rounds up to the
    # next microsecond and the first piece carries exactly 1 kWh, so the second starts at 1 kWh.
    session = native("2026-01-15T10:00:00Z", "2026-01-15T10:00:01Z", kwh="3")
    result = split(session, third_kwh, "UTC")
    assert [p.start for p in result] == [session["start"], at("2026-01-15T10:00:00.333334Z")]
    assert volumes(result, "ENERGY") == [D("1"), D("2")]


# --- volumes and levels -------------------------------------------------------------------------


def test_volumes_are_shared_by_time_and_add_up_to_the_original_exactly():
    session = native(
        "2026-01-15T20:13:17+01:00",
        "2026-01-16T07:41:09+01:00",
        kwh="37.777",
        idle="17.5",
        max_power_kw=D("11"),
    )
    result = split(session)
    assert len(result) == 4  # 22:00, 07:00, then parking
    for name in VOLUMES:
        original = volumes(session["periods"], name)
        assert exact_sum(volumes(result, name)) == exact_sum(original), name
    # As the engine adds them (34 digits), too.
    with localcontext(Context(prec=34)):
        assert sum(volumes(result, "TIME"), D(0)) == session["periods"][0].dimensions["TIME"]
    # Each charging piece has the energy of its share of the charging time.
    charging = [p for p in result if "ENERGY" in p.dimensions]
    ends = [p.start for p in result[1:]]
    whole = micros(ends[-1] - result[0].start)
    for piece, piece_end in zip(charging, ends, strict=True):
        expected = D("37.777") * micros(piece_end - piece.start) / whole
        assert abs(piece.dimensions["ENERGY"] - expected) < D("1E-15")


def test_levels_such_as_max_power_are_copied_to_every_piece():
    session = native("2026-01-15T21:00:00+01:00", "2026-01-15T23:00:00+01:00", max_power_kw=D("22"))
    result = split(session)
    assert [p.dimensions["MAX_POWER"] for p in result] == [D("22"), D("22")]


def test_the_parking_period_is_cut_too_and_pieces_stay_in_time_order():
    night_parking = parse_tariff(
        {
            "id": "NP",
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [{"type": "PARKING_TIME", "price": D("0"), "step_size": 1}],
                    "restrictions": {"start_time": "22:00", "end_time": "07:00"},
                },
                {
                    "price_components": [
                        {"type": "ENERGY", "price": D("0.40"), "step_size": 1},
                        {"type": "PARKING_TIME", "price": D("6.00"), "step_size": 1},
                    ]
                },
            ],
        }
    )
    session = native("2026-01-15T20:00:00+01:00", "2026-01-15T23:00:00+01:00", idle="90")
    result = split(session, night_parking)
    assert starts(result) == ["2026-01-15T19:00:00", "2026-01-15T20:30:00", "2026-01-15T21:00:00"]
    assert [p.start for p in result] == sorted(p.start for p in result)
    assert volumes(result, "PARKING_TIME") == [D("0.5"), D("1")]
    # 30 min idle before 22:00 at 6.00/h; the hour after is free.
    assert price(result, session, night_parking).totals.total_parking_cost.excl_vat == D("3")


def test_a_cdr_like_period_list_is_cut_only_inside_each_period():
    periods = [
        ChargingPeriod(at("2026-01-15T20:00:00Z"), {"ENERGY": D("6")}),
        ChargingPeriod(at("2026-01-15T21:00:00Z"), {"ENERGY": D("6")}),
    ]
    result = split_periods_at_tariff_boundaries(
        periods, tariff=DAY_NIGHT, end=at("2026-01-15T22:00:00Z"), time_zone=BERLIN
    )
    assert result == periods


# --- the price after the split ------------------------------------------------------------------


def test_a_day_night_session_is_priced_per_rate_after_the_split():
    session = native("2026-01-15T21:00:00+01:00", "2026-01-15T23:00:00+01:00")
    priced = price(split(session), session)
    assert priced.totals.total_energy_cost.excl_vat == D("10.00")
    assert [(line.unit_price, line.quantity, line.net) for line in priced.lines] == [
        (D("0.60"), D("10.000"), D("6.00")),
        (D("0.40"), D("10.000"), D("4.00")),
    ]
    # Without the split the whole session had the rate of its start.
    assert price(session["periods"], session).totals.total_energy_cost.excl_vat == D("12.00")


# --- properties ---------------------------------------------------------------------------------

TIME_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")


@st.composite
def restricted_tariffs(draw, with_kwh: bool):
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        restrictions: dict = {}
        if draw(st.booleans()):
            start, end = draw(st.lists(st.integers(0, 47), min_size=2, max_size=2, unique=True))
            restrictions["start_time"] = f"{start // 2:02d}:{start % 2 * 30:02d}"
            restrictions["end_time"] = f"{end // 2:02d}:{end % 2 * 30:02d}"
        if draw(st.booleans()):
            restrictions["day_of_week"] = draw(
                st.lists(st.sampled_from(["MONDAY", "SATURDAY", "SUNDAY"]), min_size=1, unique=True)
            )
        if draw(st.booleans()):
            restrictions["min_duration"] = draw(st.integers(1, 600)) * 60
        if draw(st.booleans()):
            restrictions["max_duration"] = draw(st.integers(601, 1200)) * 60
        if with_kwh and draw(st.booleans()):
            restrictions["max_kwh"] = draw(st.decimals("0.5", "60", places=1))
        element: dict = {
            "price_components": [
                {"type": kind, "price": draw(st.decimals("0", "9", places=2)), "step_size": step}
                for kind, step in (("ENERGY", 100), ("TIME", 60), ("PARKING_TIME", 300))
                if draw(st.booleans())
            ]
            or [{"type": "ENERGY", "price": D("0.3"), "step_size": 1}],
        }
        if restrictions:
            element["restrictions"] = restrictions
        elements.append(element)
    elements.append(
        {
            "price_components": [
                {"type": "ENERGY", "price": D("0.5"), "step_size": 1},
                {"type": "TIME", "price": D("1"), "step_size": 1},
                {"type": "PARKING_TIME", "price": D("2"), "step_size": 1},
            ]
        }
    )
    return parse_tariff({"id": "H", "currency": "EUR", "elements": elements})


@st.composite
def native_sessions(draw) -> tuple[datetime, int, int, Decimal]:
    """Whole minutes on a UTC minute grid: start, charging minutes, idle minutes, kWh."""
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 525_600)))
    # Now and then on a daylight-saving night in Europe or the USA.
    if draw(st.booleans()):
        start = draw(
            st.sampled_from(
                [
                    datetime(2026, 3, 28, 22, tzinfo=UTC),
                    datetime(2026, 10, 24, 23, tzinfo=UTC),
                    datetime(2026, 3, 8, 4, tzinfo=UTC),
                    datetime(2026, 11, 1, 3, tzinfo=UTC),
                ]
            )
        ) + timedelta(minutes=draw(st.integers(0, 240)))
    charging = draw(st.integers(0, 16 * 60))
    idle = draw(st.integers(0, 3 * 60))
    # A native record with no charging time has no energy to spread over minutes.
    kwh = draw(st.decimals("0", "90", places=3)) if charging else D(0)
    return start, charging, idle, kwh


def minute_by_minute(start: datetime, charging: int, idle: int, kwh: Decimal):
    """The reference: a period per minute, each with its exact share of the energy."""
    periods = []
    minute_hours = D(1) / 60
    with localcontext(Context(prec=60)):
        # Cumulative energy on 15 decimals, so the shares add up to the total exactly even in
        # the engine's 34 digits (a step size rounds 20.0000...01 kWh up to the next step).
        marks = [
            (kwh * minute / charging).quantize(D("1E-15"), rounding=ROUND_FLOOR)
            for minute in range(charging)
        ]
        marks.append(kwh)
        for minute in range(charging):
            dimensions = {"TIME": minute_hours, "ENERGY": marks[minute + 1] - marks[minute]}
            periods.append(ChargingPeriod(start + timedelta(minutes=minute), dimensions))
        for minute in range(idle):
            moment = start + timedelta(minutes=charging + minute)
            periods.append(ChargingPeriod(moment, {"PARKING_TIME": minute_hours}))
    return periods


@settings(max_examples=120, deadline=None)
@given(restricted_tariffs(with_kwh=False), native_sessions(), st.sampled_from(TIME_ZONES))
def test_the_split_prices_like_a_period_per_minute(the_tariff, session, time_zone):
    start, charging, idle, kwh = session
    end = start + timedelta(minutes=charging + idle)
    periods = periods_from_native(start=start, end=end, energy_kwh=kwh, idle_minutes=D(idle))
    pieces = split_periods_at_tariff_boundaries(
        periods, tariff=the_tariff, start=start, end=end, time_zone=time_zone
    )
    context = {"start": start, "end": end}
    split_totals = price(pieces, context, the_tariff, time_zone).totals
    reference = price(minute_by_minute(start, charging, idle, kwh), context, the_tariff, time_zone)
    tolerance = D("1E-8")
    for name in ("total_energy_cost", "total_time_cost", "total_parking_cost", "total_cost"):
        ours, theirs = getattr(split_totals, name), getattr(reference.totals, name)
        assert abs(ours.excl_vat - theirs.excl_vat) < tolerance, name


@settings(max_examples=150, deadline=None)
@given(restricted_tariffs(with_kwh=True), native_sessions(), st.sampled_from(TIME_ZONES))
def test_pieces_keep_every_volume_exactly_stay_ordered_and_a_second_split_changes_nothing(
    the_tariff, session, time_zone
):
    start, charging, idle, kwh = session
    end = start + timedelta(minutes=charging + idle)
    periods = periods_from_native(start=start, end=end, energy_kwh=kwh, idle_minutes=D(idle))
    pieces = split_periods_at_tariff_boundaries(
        periods, tariff=the_tariff, start=start, end=end, time_zone=time_zone
    )
    for name in VOLUMES:
        assert exact_sum(volumes(pieces, name)) == exact_sum(volumes(periods, name)), name
        assert all(volume >= 0 for volume in volumes(pieces, name))
    moments = [p.start for p in pieces]
    assert moments == sorted(set(moments))
    assert start <= moments[0] and moments[-1] <= end
    again = split_periods_at_tariff_boundaries(
        pieces, tariff=the_tariff, start=start, end=end, time_zone=time_zone
    )
    assert [p.start for p in again] == moments
