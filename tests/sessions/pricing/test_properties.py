"""Properties that hold for every tariff and session the engine accepts (hypothesis).

Precisely:
- every OCPI total is the sum of its components, and total_cost is that sum clamped to
  [min_price, max_price] (compared excl. VAT);
- each breakdown line rounds its own exact cost to cents once, so without a min/max adjustment
  |sum(net) - total_cost.excl_vat| <= 0.005 x number of lines, and
  |sum(gross) - total_cost.incl_vat| <= sum over lines of 0.005 x (2 + rate/100)
  (net rounding, VAT rounding, and the net rounding carried into the VAT); with an adjustment,
  sum(net) == total_cost.excl_vat rounded to cents, exactly;
- incl_vat >= excl_vat for every total;
- pricing is deterministic and does not depend on the order the periods are given in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cpo_portal.kernel.money import round_money
from sessions.pricing import ChargingPeriod, VatRates, parse_tariff, price_session

D = Decimal
HALF_CENT = D("0.005")
TIME_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")
START = datetime(2024, 1, 1, tzinfo=UTC)


def decimals(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(low), max_value=D(high), places=places)


@st.composite
def components(draw) -> list[dict]:
    kinds = draw(
        st.lists(
            st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    result = []
    for kind in kinds:
        data = {
            "type": kind,
            "price": draw(decimals("0", "9.99", 4)),
            "step_size": draw(st.sampled_from([0, 1, 60, 300, 900, 1000])),
        }
        if draw(st.booleans()):
            data["vat"] = draw(st.sampled_from([D("0"), D("7"), D("10"), D("19"), D("21")]))
        result.append(data)
    return result


@st.composite
def restrictions(draw) -> dict:
    result: dict = {}
    if draw(st.booleans()):
        start, end = draw(
            st.lists(st.integers(0, 23), min_size=2, max_size=2, unique=True).map(tuple)
        )
        result["start_time"] = f"{start:02d}:00"
        result["end_time"] = f"{end:02d}:30"
    if draw(st.booleans()):
        result["day_of_week"] = draw(
            st.lists(
                st.sampled_from(["MONDAY", "WEDNESDAY", "SATURDAY", "SUNDAY"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
    if draw(st.booleans()):
        result["max_kwh"] = draw(decimals("1", "50", 1))
    if draw(st.booleans()):
        result["min_duration"] = draw(st.integers(0, 7200))
    if draw(st.booleans()):
        result["max_power"] = draw(decimals("3", "150", 0))
    return result


@st.composite
def tariffs(draw):
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        element: dict = {"price_components": draw(components())}
        restriction = draw(restrictions())
        if restriction:
            element["restrictions"] = restriction
        elements.append(element)
    data: dict = {"id": "P", "currency": "EUR", "elements": elements}
    if draw(st.booleans()):
        data["min_price"] = {"excl_vat": draw(decimals("0", "5", 2))}
    if draw(st.booleans()):
        data["max_price"] = {"excl_vat": draw(decimals("5", "60", 2))}
    return parse_tariff(data)


@st.composite
def sessions(draw) -> tuple[list[ChargingPeriod], datetime, datetime]:
    start = START + timedelta(minutes=draw(st.integers(0, 366 * 24 * 60)))
    moment = start
    periods = []
    for _ in range(draw(st.integers(0, 5))):
        moment += timedelta(seconds=draw(st.integers(0, 3 * 3600)))
        dimensions = {}
        for name, strategy in (
            ("ENERGY", decimals("0", "40", 3)),
            ("TIME", decimals("0", "3", 4)),
            ("PARKING_TIME", decimals("0", "3", 4)),
            ("MAX_POWER", decimals("1", "300", 1)),
        ):
            if draw(st.booleans()):
                dimensions[name] = draw(strategy)
        periods.append(ChargingPeriod(moment, dimensions))
    end = moment + timedelta(seconds=draw(st.integers(0, 3 * 3600)))
    return periods, start, end


vat_rates = st.builds(
    VatRates,
    electricity=st.sampled_from([D("0"), D("19"), D("20")]),
    services=st.sampled_from([D("0"), D("7"), D("19")]),
)


def price(the_tariff, periods, start, end, time_zone, rates):
    return price_session(
        tariff=the_tariff,
        periods=periods,
        start=start,
        end=end,
        time_zone=time_zone,
        vat_rates=rates,
    )


COMMON = settings(max_examples=150, deadline=None)


@COMMON
@given(tariffs(), sessions(), st.sampled_from(TIME_ZONES), vat_rates)
def test_totals_are_the_sum_of_their_components_clamped_to_min_and_max_price(
    the_tariff, session, time_zone, rates
):
    totals = price(the_tariff, *session, time_zone, rates).totals
    parts = (
        totals.total_energy_cost,
        totals.total_time_cost,
        totals.total_parking_cost,
        totals.total_fixed_cost,
        totals.total_reservation_cost,
    )
    excl = sum(p.excl_vat for p in parts)
    expected = excl
    if the_tariff.min_price is not None:
        expected = max(expected, the_tariff.min_price.excl_vat)
    if the_tariff.max_price is not None and excl > the_tariff.max_price.excl_vat:
        expected = the_tariff.max_price.excl_vat
    assert totals.total_cost.excl_vat == expected
    if expected == excl:
        assert totals.total_cost.incl_vat == sum(p.incl_vat for p in parts)


@COMMON
@given(tariffs(), sessions(), st.sampled_from(TIME_ZONES), vat_rates)
def test_lines_sum_to_the_totals_within_the_rounding_of_each_line(
    the_tariff, session, time_zone, rates
):
    priced = price(the_tariff, *session, time_zone, rates)
    total = priced.totals.total_cost
    lines = priced.lines
    net = sum((line.net for line in lines), D(0))
    gross = sum((line.gross for line in lines), D(0))
    for line in lines:
        assert line.gross == line.net + line.vat
        assert line.quantity > 0 or line.net != 0
    if any(line.component == "price_adjustment" for line in lines):
        assert net == round_money(total.excl_vat)
    else:
        assert abs(net - total.excl_vat) <= HALF_CENT * len(lines)
        tolerance = sum((HALF_CENT * (2 + line.vat_rate / 100) for line in lines), D(0))
        assert abs(gross - total.incl_vat) <= tolerance


@COMMON
@given(tariffs(), sessions(), st.sampled_from(TIME_ZONES), vat_rates)
def test_every_total_incl_vat_is_at_least_excl_vat(the_tariff, session, time_zone, rates):
    totals = price(the_tariff, *session, time_zone, rates).totals
    for name in (
        "total_cost",
        "total_fixed_cost",
        "total_energy_cost",
        "total_time_cost",
        "total_parking_cost",
        "total_reservation_cost",
    ):
        amount = getattr(totals, name)
        assert amount.incl_vat >= amount.excl_vat >= 0, name


@COMMON
@given(tariffs(), sessions(), st.sampled_from(TIME_ZONES), vat_rates, st.randoms())
def test_pricing_is_deterministic_and_independent_of_period_order(
    the_tariff, session, time_zone, rates, random
):
    periods, start, end = session
    first = price(the_tariff, periods, start, end, time_zone, rates)
    again = price(the_tariff, periods, start, end, time_zone, rates)
    shuffled = list(periods)
    random.shuffle(shuffled)
    reordered = price(the_tariff, shuffled, start, end, time_zone, rates)
    assert first == again
    assert reordered == first
    assert reordered.to_ocpi_json() == first.to_ocpi_json()
