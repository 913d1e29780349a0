"""OCPI 2.2.1 pricing rules, which element applies: times, dates, time zones, restrictions."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sessions.pricing import (
    price_session,
)
from tests.sessions.pricing.builders import (
    BERLIN,
    DAY_NIGHT,
    NO_VAT,
    D,
    at,
    charging_time,
    element,
    energy,
    flat,
    kwh_price_at,
    parking,
    period,
    price,
    tariff,
    time_price_at,
)

# --- time of day --------------------------------------------------------------------------------


def test_start_and_end_time_select_the_element_by_the_local_time_at_period_start():
    assert kwh_price_at(DAY_NIGHT, "2024-01-15T10:00:00Z") == D("0.40")
    assert kwh_price_at(DAY_NIGHT, "2024-01-15T23:00:00Z") == D("0.30")


def test_start_time_is_inclusive_and_end_time_exclusive():
    assert kwh_price_at(DAY_NIGHT, "2024-01-15T07:00:00Z") == D("0.40")
    assert kwh_price_at(DAY_NIGHT, "2024-01-15T21:59:59Z") == D("0.40")
    assert kwh_price_at(DAY_NIGHT, "2024-01-15T22:00:00Z") == D("0.30")


def test_a_time_range_ending_before_it_starts_wraps_around_midnight():
    night = tariff(
        element(energy("0.30"), start_time="22:00", end_time="06:00"),
        element(energy("0.40")),
    )
    for moment in ("22:00:00", "23:30:00", "00:00:00", "05:59:59"):
        assert kwh_price_at(night, f"2024-01-15T{moment}Z") == D("0.30"), moment
    for moment in ("06:00:00", "12:00:00", "21:59:59"):
        assert kwh_price_at(night, f"2024-01-15T{moment}Z") == D("0.40"), moment


def test_an_end_time_of_midnight_closes_the_evening_range():
    evening = tariff(
        element(energy("0.50"), start_time="20:00", end_time="00:00"),
        element(energy("0.40")),
    )
    assert kwh_price_at(evening, "2024-01-15T23:59:00Z") == D("0.50")
    assert kwh_price_at(evening, "2024-01-16T00:00:00Z") == D("0.40")


def test_an_element_is_chosen_at_period_start_and_applies_to_the_whole_period():
    # 21:30-23:30 in one period: the day price applies throughout, as in the reference.
    session = price(
        DAY_NIGHT,
        [period("2024-01-15T21:30:00Z", energy="10")],
        end="2024-01-15T23:30:00Z",
    )
    assert session.totals.total_energy_cost.excl_vat == D("4.00")


# --- dates and weekdays -------------------------------------------------------------------------

PROMO = tariff(
    element(energy("0.10"), start_date="2024-05-01", end_date="2024-05-03"),
    element(energy("0.40")),
)


def test_start_date_is_inclusive_and_end_date_exclusive():
    assert kwh_price_at(PROMO, "2024-04-30T12:00:00Z") == D("0.40")
    assert kwh_price_at(PROMO, "2024-05-01T00:00:00Z") == D("0.10")
    assert kwh_price_at(PROMO, "2024-05-02T23:59:59Z") == D("0.10")
    assert kwh_price_at(PROMO, "2024-05-03T00:00:00Z") == D("0.40")


def test_dates_are_the_local_dates_of_the_location():
    # 2024-04-30 22:30 UTC is already 1 May, 00:30, in Berlin.
    assert kwh_price_at(PROMO, "2024-04-30T22:30:00Z", "UTC") == D("0.40")
    assert kwh_price_at(PROMO, "2024-04-30T22:30:00Z", BERLIN) == D("0.10")


def test_day_of_week_uses_the_local_weekday():
    weekend = tariff(
        element(energy("0.25"), day_of_week=["SATURDAY", "SUNDAY"]),
        element(energy("0.40")),
    )
    # Friday 23:30 UTC is Saturday 01:30 in Berlin (summer time).
    assert kwh_price_at(weekend, "2024-06-07T23:30:00Z", "UTC") == D("0.40")
    assert kwh_price_at(weekend, "2024-06-07T23:30:00Z", BERLIN) == D("0.25")
    assert kwh_price_at(weekend, "2024-06-09T12:00:00Z", "UTC") == D("0.25")
    assert kwh_price_at(weekend, "2024-06-10T12:00:00Z", "UTC") == D("0.40")


# --- time zones and daylight saving -------------------------------------------------------------


def test_the_same_utc_session_is_priced_in_the_location_time_zone():
    moment = "2024-01-15T21:30:00Z"  # 21:30 in London/UTC, 22:30 in Berlin
    assert kwh_price_at(DAY_NIGHT, moment, "UTC") == D("0.40")
    assert kwh_price_at(DAY_NIGHT, moment, BERLIN) == D("0.30")


def test_a_zoneinfo_object_is_accepted_as_time_zone():
    session = price(
        DAY_NIGHT, [period("2024-01-15T21:30:00Z", energy="1")], time_zone=ZoneInfo(BERLIN)
    )
    assert session.totals.total_energy_cost.excl_vat == D("0.30")


def test_the_spring_dst_switch_moves_the_local_time_of_a_utc_instant():
    # 05:30 UTC is 06:30 CET on Saturday (night) but 07:30 CEST on Sunday (day).
    assert kwh_price_at(DAY_NIGHT, "2024-03-30T05:30:00Z", BERLIN) == D("0.30")
    assert kwh_price_at(DAY_NIGHT, "2024-03-31T05:30:00Z", BERLIN) == D("0.40")


def test_durations_across_the_spring_dst_switch_are_real_elapsed_time():
    # 01:30 CET to 05:30 CEST shows four hours on the clock but lasts three.
    short = tariff(
        element(charging_time("6.00"), max_duration=7200),
        element(charging_time("1.00")),
    )
    session = price(
        short,
        [
            period("2024-03-31T00:30:00Z", time="1.5"),
            period("2024-03-31T02:00:00Z", time="1.5"),  # 04:00 CEST, 1.5 h elapsed
        ],
        end="2024-03-31T03:30:00Z",
        time_zone=BERLIN,
    )
    assert session.totals.total_time == D("3")
    assert session.totals.total_time_cost.excl_vat == D("18.00")


def test_the_repeated_hour_of_the_autumn_dst_switch_matches_both_times():
    # 00:30 UTC is 02:30 CEST and 01:30 UTC is 02:30 CET: both inside 02:00-03:00.
    happy_hour = tariff(
        element(energy("0.10"), start_time="02:00", end_time="03:00"),
        element(energy("0.40")),
    )
    session = price(
        happy_hour,
        [period("2024-10-27T00:30:00Z", energy="5"), period("2024-10-27T01:30:00Z", energy="5")],
        end="2024-10-27T02:30:00Z",
        time_zone=BERLIN,
    )
    assert session.totals.total_energy_cost.excl_vat == D("1.00")
    assert session.totals.total_time == D("2")


# --- energy, current, power and duration ------------------------------------------------------

FIRST_KWH_FREE = tariff(
    element(energy("0.00"), max_kwh=D("1")),
    element(energy("0.20"), min_kwh=D("1")),
)


def test_min_and_max_kwh_compare_the_energy_charged_before_the_period():
    session = price(
        FIRST_KWH_FREE,
        [period("2024-01-15T10:00:00Z", energy="1"), period("2024-01-15T10:10:00Z", energy="4")],
    )
    assert session.totals.total_energy_cost.excl_vat == D("0.80")


def test_a_single_period_is_priced_at_the_energy_band_of_its_start():
    session = price(FIRST_KWH_FREE, [period("2024-01-15T10:00:00Z", energy="5")])
    assert session.totals.total_energy_cost.excl_vat == D("0")


def test_min_and_max_current_compare_the_period_current():
    by_current = tariff(
        element(charging_time("1.00"), max_current=D("32")),
        element(charging_time("2.00"), min_current=D("32")),
    )
    assert time_price_at(by_current, "2024-01-15T10:00:00Z", max_current="16") == D("1.00")
    assert time_price_at(
        by_current, "2024-01-15T10:00:00Z", min_current="32", max_current="63"
    ) == D("2.00")
    assert time_price_at(by_current, "2024-01-15T10:00:00Z", current="40") == D("2.00")


def test_max_power_is_exclusive_and_compares_the_period_maximum_power():
    by_power = tariff(
        element(energy("0.20"), max_power=D("16")),
        element(energy("0.35"), max_power=D("32")),
        element(energy("0.50")),
    )
    moment = "2024-01-15T10:00:00Z"
    assert kwh_price_at(by_power, moment, max_power="11") == D("0.20")
    assert kwh_price_at(by_power, moment, max_power="16") == D("0.35")
    assert kwh_price_at(by_power, moment, max_power="22") == D("0.35")
    assert kwh_price_at(by_power, moment, max_power="50") == D("0.50")


def test_min_power_uses_the_maximum_power_when_only_that_was_measured():
    fast = tariff(element(energy("0.59"), min_power=D("50")), element(energy("0.39")))
    moment = "2024-01-15T10:00:00Z"
    assert kwh_price_at(fast, moment, min_power="60") == D("0.59")
    assert kwh_price_at(fast, moment, min_power="20", max_power="60") == D("0.39")
    assert kwh_price_at(fast, moment, max_power="150") == D("0.59")
    assert kwh_price_at(fast, moment, max_power="22") == D("0.39")


def test_a_power_restriction_without_any_power_measurement_does_not_block_the_element():
    fast = tariff(element(energy("0.59"), min_power=D("50")), element(energy("0.39")))
    assert kwh_price_at(fast, "2024-01-15T10:00:00Z") == D("0.59")


def test_min_and_max_duration_compare_the_time_elapsed_since_session_start():
    free_first_half_hour = tariff(
        element(energy("0.00"), max_duration=1800),
        element(energy("0.25"), max_duration=3600),
        element(energy("0.40")),
    )
    session = price(
        free_first_half_hour,
        [
            period("2024-01-15T10:00:00Z", energy="1"),
            period("2024-01-15T10:30:00Z", energy="1"),  # 1800 s: max_duration is exclusive
            period("2024-01-15T11:00:00Z", energy="1"),
        ],
    )
    assert session.totals.total_energy_cost.excl_vat == D("0.65")


def test_min_duration_counts_from_the_session_start_not_the_first_period():
    idle_fee = tariff(
        element(parking("0.00"), max_duration=1800),
        element(parking("3.00"), min_duration=1800),
    )
    session = price(
        idle_fee,
        [period("2024-01-15T10:40:00Z", parking_time="0.5")],
        start="2024-01-15T10:00:00Z",
        end="2024-01-15T11:10:00Z",
    )
    assert session.totals.total_parking_cost.excl_vat == D("1.50")


# --- flat fee, reservations ---------------------------------------------------------------------


def test_the_flat_fee_is_charged_once_from_the_element_matching_the_first_period():
    tariff_ = tariff(
        element(flat("2.00"), energy("0.30"), start_time="22:00", end_time="07:00"),
        element(flat("1.00"), energy("0.40")),
    )
    session = price(
        tariff_,
        [period("2024-01-15T21:00:00Z", energy="10"), period("2024-01-15T22:30:00Z", energy="10")],
    )
    assert session.totals.total_fixed_cost.excl_vat == D("1.00")
    assert session.totals.total_energy_cost.excl_vat == D("7.00")


def test_a_session_without_periods_still_pays_the_connection_fee():
    session = price_session(
        tariff=tariff(element(flat("1.50"), energy("0.30"))),
        periods=[],
        start=at("2024-01-15T10:00:00Z"),
        end=at("2024-01-15T10:05:00Z"),
        vat_rates=NO_VAT,
    )
    assert session.totals.total_cost.excl_vat == D("1.50")


def test_reservation_elements_never_price_a_charging_session():
    reservation_tariff = tariff(
        element(flat("2.00"), charging_time("5.00"), reservation="RESERVATION"),
        element(flat("0.50"), energy("0.25")),
    )
    session = price(reservation_tariff, [period("2024-01-15T10:00:00Z", energy="10", time="1")])
    totals = session.totals
    assert totals.total_fixed_cost.excl_vat == D("0.50")
    assert totals.total_energy_cost.excl_vat == D("2.50")
    assert totals.total_time_cost.excl_vat == D("0")
    assert totals.total_reservation_cost.excl_vat == D("0")


def test_a_dimension_without_a_price_component_costs_nothing():
    session = price(
        tariff(element(energy("0.30"))), [period("2024-01-15T10:00:00Z", energy="10", time="2")]
    )
    assert session.totals.total_time_cost.excl_vat == D("0")
    assert [line.component for line in session.lines] == ["energy"]
