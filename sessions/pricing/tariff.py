"""The OCPI 2.2.1 Tariff model: frozen dataclasses and a validating parser.

Only the fields the pricing depends on are modelled; everything else in the JSON (alt texts,
URLs, energy mix, party, ...) is allowed and stays in the raw JSON the caller stores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sessions.pricing import limits
from sessions.pricing._values import read_datetime, read_int, read_number
from sessions.pricing.errors import TariffError

__all__ = [
    "DAYS_OF_WEEK",
    "DIMENSIONS",
    "RESERVATION_TYPES",
    "PriceComponent",
    "PriceLimit",
    "Restrictions",
    "Tariff",
    "TariffElement",
    "parse_tariff",
    "without_time_prices",
]

ENERGY = "ENERGY"
TIME = "TIME"
PARKING_TIME = "PARKING_TIME"
FLAT = "FLAT"
DIMENSIONS = (ENERGY, FLAT, PARKING_TIME, TIME)
DAYS_OF_WEEK = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
RESERVATION_TYPES = ("RESERVATION", "RESERVATION_EXPIRES")

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_RESTRICTION_MAXIMA = {
    "kwh": limits.MAX_SESSION_ENERGY_KWH,
    "current": limits.MAX_CURRENT_A,
    "power": limits.MAX_POWER_KW,
}
_MAX_DURATION_SECONDS = int(limits.MAX_SESSION_DURATION.total_seconds())
_RESTRICTION_FIELDS = frozenset(
    {
        "start_time",
        "end_time",
        "start_date",
        "end_date",
        "min_kwh",
        "max_kwh",
        "min_current",
        "max_current",
        "min_power",
        "max_power",
        "min_duration",
        "max_duration",
        "day_of_week",
        "reservation",
    }
)


@dataclass(frozen=True, slots=True)
class PriceComponent:
    """One price of a tariff element: ENERGY per kWh, TIME/PARKING_TIME per hour, FLAT once."""

    type: str
    price: Decimal
    vat: Decimal | None
    step_size: int


@dataclass(frozen=True, slots=True)
class Restrictions:
    """When a tariff element applies; every restriction given must hold (local time, end excl.)."""

    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: tuple[str, ...] = ()
    reservation: str | None = None


@dataclass(frozen=True, slots=True)
class TariffElement:
    """Price components that apply together while the element's restrictions hold."""

    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions | None = None


@dataclass(frozen=True, slots=True)
class PriceLimit:
    """A tariff's min_price or max_price; incl_vat is optional in OCPI."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Tariff:
    """An OCPI 2.2.1 tariff as far as pricing needs it; the raw JSON is kept by the caller."""

    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    type: str | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    # The engine caches its compiled form of the tariff here (see engine._plan_for).
    _plan: Any = field(default=None, init=False, repr=False, compare=False, hash=False)


def parse_tariff(data: Mapping[str, Any]) -> Tariff:
    """Validate an OCPI 2.2.1 Tariff object and return it as frozen dataclasses."""
    if not isinstance(data, Mapping):
        raise TariffError("tariff: must be a JSON object")
    tariff_id = data.get("id")
    if not isinstance(tariff_id, str) or not tariff_id.strip():
        raise TariffError("id: must be a non-empty string")
    if len(tariff_id) > 36:
        raise TariffError(f"id: must be at most 36 characters, got {len(tariff_id)}")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
        raise TariffError(f"currency: must be an ISO 4217 code such as EUR, got {currency!r}")
    tariff_type = data.get("type")
    if tariff_type is not None and not isinstance(tariff_type, str):
        raise TariffError("type: must be a string")

    raw_elements = data.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise TariffError("elements: must be a non-empty list of tariff elements")
    if len(raw_elements) > limits.MAX_TARIFF_ELEMENTS:
        raise TariffError(
            f"elements: at most {limits.MAX_TARIFF_ELEMENTS} tariff elements (limit), "
            f"got {len(raw_elements)}"
        )
    elements = tuple(_parse_element(raw, f"elements[{i}]") for i, raw in enumerate(raw_elements))
    times_of_day = {
        moment
        for element in elements
        if element.restrictions is not None
        for moment in (element.restrictions.start_time, element.restrictions.end_time)
        if moment is not None
    }
    if len(times_of_day) > limits.MAX_TIMES_OF_DAY:
        raise TariffError(
            f"elements: at most {limits.MAX_TIMES_OF_DAY} different start_time/end_time "
            f"values (limit), got {len(times_of_day)}"
        )

    min_price = _parse_limit(data.get("min_price"), "min_price")
    max_price = _parse_limit(data.get("max_price"), "max_price")
    if min_price and max_price and min_price.excl_vat > max_price.excl_vat:
        raise TariffError(
            f"min_price.excl_vat: {min_price.excl_vat} is above max_price.excl_vat "
            f"{max_price.excl_vat}"
        )

    start_dt = _optional_datetime(data, "start_date_time")
    end_dt = _optional_datetime(data, "end_date_time")
    if start_dt and end_dt and end_dt <= start_dt:
        raise TariffError("end_date_time: must be after start_date_time")

    return Tariff(
        id=tariff_id,
        currency=currency,
        elements=elements,
        min_price=min_price,
        max_price=max_price,
        type=tariff_type,
        start_date_time=start_dt,
        end_date_time=end_dt,
    )


def _parse_element(raw: object, path: str) -> TariffElement:
    """Parse one tariff element: at least one price component, optional restrictions."""
    if not isinstance(raw, Mapping):
        raise TariffError(f"{path}: must be a JSON object")
    raw_components = raw.get("price_components")
    if not isinstance(raw_components, list) or not raw_components:
        raise TariffError(f"{path}.price_components: must be a non-empty list")
    if len(raw_components) > limits.MAX_PRICE_COMPONENTS:
        raise TariffError(
            f"{path}.price_components: at most {limits.MAX_PRICE_COMPONENTS} price components "
            f"(limit), got {len(raw_components)}"
        )
    components = tuple(
        _parse_component(item, f"{path}.price_components[{i}]")
        for i, item in enumerate(raw_components)
    )
    raw_restrictions = raw.get("restrictions")
    restrictions = (
        None
        if raw_restrictions is None
        else _parse_restrictions(raw_restrictions, f"{path}.restrictions")
    )
    return TariffElement(price_components=components, restrictions=restrictions)


def _parse_component(raw: object, path: str) -> PriceComponent:
    """Parse a price component; the price is excl. VAT, per kWh, per hour or per session."""
    if not isinstance(raw, Mapping):
        raise TariffError(f"{path}: must be a JSON object")
    kind = raw.get("type")
    if kind not in DIMENSIONS:
        raise TariffError(
            f"{path}.type: must be one of ENERGY, FLAT, PARKING_TIME, TIME, got {kind!r}"
        )
    if "price" not in raw:
        raise TariffError(f"{path}.price: is required")
    price = read_number(
        raw["price"], f"{path}.price", TariffError, minimum=_ZERO, maximum=limits.MAX_PRICE
    )
    vat = None
    if raw.get("vat") is not None:
        vat = read_number(raw["vat"], f"{path}.vat", TariffError, minimum=_ZERO)
        if vat > _HUNDRED:
            raise TariffError(f"{path}.vat: must be a percentage between 0 and 100, got {vat}")
    if "step_size" not in raw:
        raise TariffError(f"{path}.step_size: is required (use 1 for no rounding)")
    step_size = read_int(
        raw["step_size"], f"{path}.step_size", TariffError, "", maximum=limits.MAX_STEP_SIZE
    )
    return PriceComponent(type=kind, price=price, vat=vat, step_size=step_size)


def _parse_restrictions(raw: object, path: str) -> Restrictions:
    """Parse a restrictions object; unknown keys are refused because a typo would widen it."""
    if not isinstance(raw, Mapping):
        raise TariffError(f"{path}: must be a JSON object")
    unknown = sorted(set(raw) - _RESTRICTION_FIELDS)
    if unknown:
        raise TariffError(f"{path}.{unknown[0]}: is not an OCPI 2.2.1 tariff restriction")

    def number(name: str) -> Decimal | None:
        value = raw.get(name)
        maximum = _RESTRICTION_MAXIMA[name.partition("_")[2]]
        return (
            None
            if value is None
            else read_number(value, f"{path}.{name}", TariffError, minimum=_ZERO, maximum=maximum)
        )

    def seconds(name: str) -> int | None:
        value = raw.get(name)
        return (
            None
            if value is None
            else read_int(
                value,
                f"{path}.{name}",
                TariffError,
                " (seconds)",
                maximum=_MAX_DURATION_SECONDS,
            )
        )

    start_time = _time_of_day(raw.get("start_time"), f"{path}.start_time")
    end_time = _time_of_day(raw.get("end_time"), f"{path}.end_time")
    if start_time is not None and start_time == end_time:
        # 08:00-08:00 could mean "all day" or "never"; refuse rather than guess.
        raise TariffError(f"{path}.end_time: must differ from start_time ({start_time:%H:%M})")
    start_date = _date(raw.get("start_date"), f"{path}.start_date")
    end_date = _date(raw.get("end_date"), f"{path}.end_date")
    if start_date and end_date and end_date <= start_date:
        raise TariffError(f"{path}.end_date: must be after start_date (end_date is exclusive)")

    restrictions = Restrictions(
        start_time=start_time,
        end_time=end_time,
        start_date=start_date,
        end_date=end_date,
        min_kwh=number("min_kwh"),
        max_kwh=number("max_kwh"),
        min_current=number("min_current"),
        max_current=number("max_current"),
        min_power=number("min_power"),
        max_power=number("max_power"),
        min_duration=seconds("min_duration"),
        max_duration=seconds("max_duration"),
        day_of_week=_days(raw.get("day_of_week"), f"{path}.day_of_week"),
        reservation=_reservation(raw.get("reservation"), f"{path}.reservation"),
    )
    for name in ("kwh", "current", "power", "duration"):
        low = getattr(restrictions, f"min_{name}")
        high = getattr(restrictions, f"max_{name}")
        if low is not None and high is not None and low >= high:
            raise TariffError(
                f"{path}.max_{name}: must be greater than min_{name} ({low}), got {high}; "
                "the element could never apply"
            )
    return restrictions


def _time_of_day(value: object, path: str) -> time | None:
    """Read an OCPI local time of day, HH:MM on a 24-hour clock."""
    if value is None:
        return None
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise TariffError(f"{path}: must be a local time HH:MM such as 22:00, got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _date(value: object, path: str) -> date | None:
    """Read an OCPI local date, YYYY-MM-DD."""
    if value is None:
        return None
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise TariffError(f"{path}: must be a date YYYY-MM-DD such as 2024-03-31, got {value!r}")


def _days(value: object, path: str) -> tuple[str, ...]:
    """Read day_of_week: a list of distinct English day names in capitals."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TariffError(f'{path}: must be a list of days such as ["MONDAY", "FRIDAY"]')
    days = []
    for i, day in enumerate(value):
        if day not in DAYS_OF_WEEK:
            raise TariffError(f"{path}[{i}]: must be one of {', '.join(DAYS_OF_WEEK)}, got {day!r}")
        if day in days:
            raise TariffError(f"{path}[{i}]: {day} is listed twice")
        days.append(day)
    return tuple(days)


def _reservation(value: object, path: str) -> str | None:
    """Read the reservation restriction; the element then prices reservations only."""
    if value is None:
        return None
    if value not in RESERVATION_TYPES:
        raise TariffError(f"{path}: must be RESERVATION or RESERVATION_EXPIRES, got {value!r}")
    return str(value)


def _parse_limit(value: object, path: str) -> PriceLimit | None:
    """Read min_price/max_price {excl_vat, incl_vat?}; incl_vat below excl_vat is refused."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TariffError(f"{path}: must be an object with excl_vat and optional incl_vat")
    if "excl_vat" not in value:
        raise TariffError(f"{path}.excl_vat: is required")
    excl = read_number(
        value["excl_vat"],
        f"{path}.excl_vat",
        TariffError,
        minimum=_ZERO,
        maximum=limits.MAX_PRICE,
    )
    incl = None
    if value.get("incl_vat") is not None:
        incl = read_number(
            value["incl_vat"],
            f"{path}.incl_vat",
            TariffError,
            minimum=_ZERO,
            maximum=limits.MAX_PRICE * 2,
        )
        if incl < excl:
            raise TariffError(f"{path}.incl_vat: {incl} is below excl_vat {excl}")
    return PriceLimit(excl_vat=excl, incl_vat=incl)


def _optional_datetime(data: Mapping[str, Any], name: str) -> datetime | None:
    """Read an optional top-level timestamp of the tariff."""
    value = data.get(name)
    return None if value is None else read_datetime(value, name, TariffError)


TIME_COMPONENTS = frozenset({TIME, PARKING_TIME})


def without_time_prices(tariff: Tariff) -> Tariff:
    """The tariff with its TIME and PARKING_TIME prices left out (elements left empty go),
    for a charger whose clock is not legally relevant."""
    elements = []
    for element in tariff.elements:
        components = tuple(c for c in element.price_components if c.type not in TIME_COMPONENTS)
        if components:
            elements.append(replace(element, price_components=components))
    return replace(tariff, elements=tuple(elements))
