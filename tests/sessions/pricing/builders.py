"""Small hand-made OCPI tariffs, periods and prices for the pricing-rule tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sessions.pricing import (
    ChargingPeriod,
    PricedSession,
    VatRates,
    parse_tariff,
    price_session,
)

D = Decimal
NO_VAT = VatRates(electricity=D("0"), services=D("0"))
OPERATOR_VAT = VatRates(electricity=D("19"), services=D("7"))
BERLIN = "Europe/Berlin"


# --- helpers ------------------------------------------------------------------------------------


def at(text: str) -> datetime:
    """An aware datetime from ISO text; a trailing Z means UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def component(kind: str, price: str, step: int = 1, vat: str | None = None) -> dict:
    data = {"type": kind, "price": D(price), "step_size": step}
    if vat is not None:
        data["vat"] = D(vat)
    return data


def energy(price: str, step: int = 1, vat: str | None = None) -> dict:
    return component("ENERGY", price, step, vat)


def charging_time(price: str, step: int = 1, vat: str | None = None) -> dict:
    return component("TIME", price, step, vat)


def parking(price: str, step: int = 1, vat: str | None = None) -> dict:
    return component("PARKING_TIME", price, step, vat)


def flat(price: str, vat: str | None = None) -> dict:
    return component("FLAT", price, 1, vat)


def element(*components: dict, **restrictions: object) -> dict:
    data: dict = {"price_components": list(components)}
    if restrictions:
        data["restrictions"] = restrictions
    return data


def tariff(*elements: dict, **extra: object):
    return parse_tariff({"id": "T1", "currency": "EUR", "elements": list(elements), **extra})


def period(start: str, **dimensions: str) -> ChargingPeriod:
    return ChargingPeriod(at(start), {name.upper(): D(v) for name, v in dimensions.items()})


def price(
    the_tariff,
    periods: list[ChargingPeriod],
    start: str | None = None,
    end: str | None = None,
    time_zone: str | ZoneInfo = "UTC",
    vat_rates: VatRates = NO_VAT,
) -> PricedSession:
    first = at(start) if start else periods[0].start
    last = at(end) if end else max(p.start for p in periods) + timedelta(hours=1)
    return price_session(
        tariff=the_tariff,
        periods=periods,
        start=first,
        end=last,
        time_zone=time_zone,
        vat_rates=vat_rates,
    )


def kwh_price_at(the_tariff, moment: str, time_zone: str = "UTC", **dims: str) -> Decimal:
    """The price of 1 kWh charged in a period starting at `moment`."""
    session = price(the_tariff, [period(moment, energy="1", **dims)], time_zone=time_zone)
    return session.totals.total_energy_cost.excl_vat


def time_price_at(the_tariff, moment: str, **dims: str) -> Decimal:
    """The price of 1 hour of charging time in a period starting at `moment`."""
    session = price(the_tariff, [period(moment, time="1", **dims)])
    return session.totals.total_time_cost.excl_vat


DAY_NIGHT = tariff(
    element(energy("0.40"), start_time="07:00", end_time="22:00"),
    element(energy("0.30"), start_time="22:00", end_time="07:00"),
)
