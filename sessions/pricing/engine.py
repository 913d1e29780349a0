"""Price a charging session against an OCPI 2.2.1 tariff: OCPI totals plus an invoice breakdown.

Pure Python (no Django) so that it is fast and can be tested without a database. The rules
follow OCPI 2.2.1 as the reference calculator ``ocpi-tariffs`` applies them; docs/pricing.md
states each rule with a worked example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, localcontext
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cpo_portal.kernel.money import round_energy, round_money, round_quantity, vat_amount
from sessions.pricing import limits
from sessions.pricing.cdr import ChargingPeriod
from sessions.pricing.errors import CdrError, PricingError
from sessions.pricing.tariff import DAYS_OF_WEEK, PriceComponent, Restrictions, Tariff

__all__ = [
    "BreakdownLine",
    "Price",
    "PricedSession",
    "SessionTotals",
    "VatRates",
    "price_session",
]

ENERGY = "ENERGY"
TIME = "TIME"
PARKING_TIME = "PARKING_TIME"
FLAT = "FLAT"

COMPONENT_NAMES = {
    ENERGY: "energy",
    TIME: "charging_time",
    PARKING_TIME: "parking_time",
    FLAT: "connection_fee",
}
PRICE_ADJUSTMENT = "price_adjustment"

_ZERO = Decimal(0)
_ONE = Decimal(1)
_SIXTY = Decimal(60)
_HUNDRED = Decimal(100)
_THOUSAND = Decimal(1000)
_HOUR_SECONDS = Decimal(3600)
_MICROS = Decimal(1_000_000)
_MINUTE_PLACES = Decimal("0.01")
_UNIT_PRICE_PLACES = Decimal("0.000001")
_OCPI_PLACES = Decimal("0.0001")
# Exact decimals except where seconds are divided by 3600 (7 min = 0.11666... h): such volumes
# keep 34 digits and costs are carried to 10 decimals, so 0.39999...9 becomes 0.40 again.
_CARRIED_PLACES = Decimal("1E-10")
# Pricing must not depend on whatever decimal context the caller left behind.
_CONTEXT = Context(prec=34)


@dataclass(frozen=True, slots=True)
class VatRates:
    """The operator's VAT rates in percent, used when a price component carries no VAT."""

    electricity: Decimal
    services: Decimal


@dataclass(frozen=True, slots=True)
class Price:
    """An OCPI price: exact amounts excluding and including VAT."""

    excl_vat: Decimal
    incl_vat: Decimal

    def to_json(self) -> dict[str, str]:
        """OCPI numbers carry 4 decimals; they are given as strings so no float creeps in."""
        return {"excl_vat": _ocpi(self.excl_vat), "incl_vat": _ocpi(self.incl_vat)}


@dataclass(frozen=True, slots=True)
class SessionTotals:
    """The OCPI 2.2.1 CDR totals; costs are exact, quantities in kWh and hours."""

    total_cost: Price
    total_fixed_cost: Price
    total_energy: Decimal
    total_energy_cost: Price
    total_time: Decimal
    total_time_cost: Price
    total_parking_time: Decimal
    total_parking_cost: Price
    total_reservation_cost: Price


@dataclass(frozen=True, slots=True)
class BreakdownLine:
    """One invoice line per component, price and VAT rate; net, VAT and gross are in cents."""

    component: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    net: Decimal
    vat_category: str
    vat_rate: Decimal
    vat: Decimal
    gross: Decimal

    def to_json(self) -> dict[str, str]:
        """The line with every number as a string."""
        return {
            "component": self.component,
            "quantity": _plain(self.quantity),
            "unit": self.unit,
            "unit_price": _plain(self.unit_price),
            "net": _plain(self.net),
            "vat_category": self.vat_category,
            "vat_rate": _plain(self.vat_rate),
            "vat": _plain(self.vat),
            "gross": _plain(self.gross),
        }


@dataclass(frozen=True, slots=True)
class PricedSession:
    """A priced session: OCPI totals and the per-component breakdown for the invoice."""

    totals: SessionTotals
    lines: list[BreakdownLine]
    currency: str
    tariff_id: str

    def to_ocpi_json(self) -> dict[str, object]:
        """OCPI totals (4 decimals) and breakdown lines, every number as a string."""
        return {**self.totals_json(), "lines": [line.to_json() for line in self.lines]}

    def totals_json(self) -> dict[str, object]:
        """OCPI totals only (4 decimals), every number as a string."""
        t = self.totals
        return {
            "total_cost": t.total_cost.to_json(),
            "total_fixed_cost": t.total_fixed_cost.to_json(),
            "total_energy": _ocpi(t.total_energy),
            "total_energy_cost": t.total_energy_cost.to_json(),
            "total_time": _ocpi(t.total_time),
            "total_time_cost": t.total_time_cost.to_json(),
            "total_parking_time": _ocpi(t.total_parking_time),
            "total_parking_cost": t.total_parking_cost.to_json(),
            "total_reservation_cost": t.total_reservation_cost.to_json(),
        }


# --- The compiled tariff ------------------------------------------------------------------------


class _Instant:
    """What restrictions are checked against at the start of a charging period."""

    __slots__ = ("date", "dimensions", "elapsed", "energy", "seconds_of_day", "weekday")

    def __init__(
        self,
        seconds_of_day: int,
        local_date: date | None,
        weekday: int,
        energy: Decimal,
        elapsed: timedelta,
        dimensions: object,
    ) -> None:
        self.seconds_of_day = seconds_of_day
        self.date = local_date
        self.weekday = weekday
        self.energy = energy
        self.elapsed = elapsed
        self.dimensions = dimensions


_Check = Callable[[_Instant], bool]


class _Element:
    """A tariff element ready for matching: its components by type and its restriction test."""

    __slots__ = ("components", "index", "matches")

    def __init__(
        self, index: int, components: dict[str, PriceComponent], matches: _Check | None
    ) -> None:
        self.index = index
        self.components = components
        self.matches = matches


class _Plan:
    """A tariff compiled once for fast repeated pricing (cached on the Tariff object)."""

    __slots__ = ("elements", "needs_local_time")

    def __init__(self, elements: list[_Element], needs_local_time: bool) -> None:
        self.elements = elements
        self.needs_local_time = needs_local_time


def _plan_for(tariff: Tariff) -> _Plan:
    """Compile the tariff's elements and restrictions, caching the result on the tariff."""
    plan = tariff._plan
    if plan is not None:
        return plan
    elements = []
    needs_local_time = False
    for index, element in enumerate(tariff.elements):
        restrictions = element.restrictions
        if restrictions is not None and restrictions.reservation is not None:
            # Reservation elements price reservation time, which our CDRs never contain.
            continue
        components: dict[str, PriceComponent] = {}
        for component in element.price_components:
            # Within one element the first component of a type wins, as in the reference.
            components.setdefault(component.type, component)
        matches = None
        if restrictions is not None:
            checks, local = _compile(restrictions)
            needs_local_time = needs_local_time or local
            matches = _all_of(checks) if checks else None
        elements.append(_Element(index, components, matches))
    plan = _Plan(elements, needs_local_time)
    object.__setattr__(tariff, "_plan", plan)
    return plan


def _all_of(checks: list[_Check]) -> _Check:
    """Combine restriction checks: an element applies only when all of them hold."""
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def matches(instant: _Instant) -> bool:
        # A plain loop: all() over a generator costs measurably more in the hot path.
        for check in frozen:  # noqa: SIM110
            if not check(instant):
                return False
        return True

    return matches


def _compile(r: Restrictions) -> tuple[list[_Check], bool]:
    """Turn restrictions into checks at a period's start; True if local time is needed."""
    checks: list[_Check] = []
    start = _seconds_of_day(r.start_time) if r.start_time is not None else None
    end = _seconds_of_day(r.end_time) if r.end_time is not None else None
    if start is not None and end is not None and end < start:
        checks.append(_wrapping_time(start, end))
    else:
        if start is not None:
            checks.append(lambda i, s=start: i.seconds_of_day >= s)
        if end is not None:
            checks.append(lambda i, e=end: i.seconds_of_day < e)
    if r.start_date is not None:
        checks.append(lambda i, d=r.start_date: i.date >= d)
    if r.end_date is not None:
        checks.append(lambda i, d=r.end_date: i.date < d)
    if r.day_of_week:
        days = frozenset(DAYS_OF_WEEK.index(day) for day in r.day_of_week)
        checks.append(lambda i, days=days: i.weekday in days)
    needs_local_time = bool(checks)

    if r.min_kwh is not None:
        checks.append(lambda i, v=r.min_kwh: i.energy >= v)
    if r.max_kwh is not None:
        checks.append(lambda i, v=r.max_kwh: i.energy < v)
    if r.min_duration is not None:
        checks.append(lambda i, v=timedelta(seconds=r.min_duration): i.elapsed >= v)
    if r.max_duration is not None:
        checks.append(lambda i, v=timedelta(seconds=r.max_duration): i.elapsed < v)
    if r.min_current is not None:
        checks.append(_at_least(r.min_current, ("MIN_CURRENT", "CURRENT", "MAX_CURRENT")))
    if r.max_current is not None:
        checks.append(_below(r.max_current, ("MAX_CURRENT", "CURRENT", "MIN_CURRENT")))
    if r.min_power is not None:
        checks.append(_at_least(r.min_power, ("MIN_POWER", "POWER", "MAX_POWER")))
    if r.max_power is not None:
        checks.append(_below(r.max_power, ("MAX_POWER", "POWER", "MIN_POWER")))
    return checks, needs_local_time


def _wrapping_time(start: int, end: int) -> _Check:
    """A time range such as 22:00-06:00 that crosses midnight."""
    return lambda i: i.seconds_of_day >= start or i.seconds_of_day < end


def _measured(dimensions: object, names: tuple[str, str, str]) -> Decimal | None:
    """The period's value for a current/power restriction, the exact dimension first."""
    for name in names:
        value = dimensions.get(name)  # type: ignore[attr-defined]
        if value is not None:
            return value
    return None


def _at_least(limit: Decimal, names: tuple[str, str, str]) -> _Check:
    """min_current/min_power: holds when the measured value is >= the limit (or unknown)."""

    def check(instant: _Instant) -> bool:
        value = _measured(instant.dimensions, names)
        return value is None or value >= limit

    return check


def _below(limit: Decimal, names: tuple[str, str, str]) -> _Check:
    """max_current/max_power: holds when the measured value is < the limit (or unknown)."""

    def check(instant: _Instant) -> bool:
        value = _measured(instant.dimensions, names)
        return value is None or value < limit

    return check


def _seconds_of_day(moment: object) -> int:
    """Seconds since local midnight of a time of day."""
    return moment.hour * 3600 + moment.minute * 60 + moment.second  # type: ignore[attr-defined]


@lru_cache(maxsize=256)
def _zone_named(name: str) -> ZoneInfo:
    """Look up an IANA time zone once."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PricingError(f"time_zone: {name!r} is not a known IANA time zone") from exc


def _zone(time_zone: str | ZoneInfo) -> ZoneInfo:
    """Accept a ZoneInfo or its IANA name."""
    if isinstance(time_zone, ZoneInfo):
        return time_zone
    if not isinstance(time_zone, str) or not time_zone:
        raise PricingError(
            f"time_zone: must be an IANA name such as Europe/Berlin, got {time_zone!r}"
        )
    return _zone_named(time_zone)


# --- Pricing ------------------------------------------------------------------------------------


def price_session(
    *,
    tariff: Tariff,
    periods: Sequence[ChargingPeriod],
    start: datetime,
    end: datetime,
    time_zone: str | ZoneInfo = "UTC",
    vat_rates: VatRates,
) -> PricedSession:
    """Price the periods of one session against a tariff, in the location's local time."""
    start = _aware(start, "start")
    end = _aware(end, "end")
    if end < start:
        raise CdrError(f"end: {end.isoformat()} is before start {start.isoformat()}")
    zone = _zone(time_zone)
    plan = _plan_for(tariff)
    ordered = _in_time_order(periods, start, end)
    with localcontext(_CONTEXT):
        return _price(tariff, plan, ordered, start, end, zone, vat_rates)


def _aware(moment: object, name: str) -> datetime:
    """Require an aware datetime; the engine compares instants, never wall-clock times."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise CdrError(f"{name}: must be a time-zone-aware datetime, got {moment!r}")
    return moment


def _in_time_order(
    periods: Sequence[ChargingPeriod], start: datetime, end: datetime
) -> Sequence[ChargingPeriod]:
    """Periods sorted by start (ties by content), all within the session."""
    for i, period in enumerate(periods):
        moment = period.start
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise CdrError(f"charging_periods[{i}].start: must be a time-zone-aware datetime")
        if moment < start or moment > end:
            raise CdrError(
                f"charging_periods[{i}].start: {moment.isoformat()} is outside the session "
                f"({start.isoformat()} to {end.isoformat()})"
            )
    if all(periods[i].start < periods[i + 1].start for i in range(len(periods) - 1)):
        return periods
    # Ties are ordered by their content so that the result never depends on the input order.
    return sorted(periods, key=lambda p: (p.start, sorted(p.dimensions.items())))


def _select(plan: _Plan, instant: _Instant, wanted: tuple[str, ...]) -> dict[str, tuple]:
    """Per dimension, the first element that matches and prices it: {type: (index, component)}."""
    found: dict[str, tuple] = {}
    for element in plan.elements:
        components = element.components
        missing = [kind for kind in wanted if kind in components and kind not in found]
        if not missing:
            continue
        if element.matches is not None and not element.matches(instant):
            continue
        for kind in missing:
            found[kind] = (element.index, components[kind])
        if len(found) == len(wanted):
            break
    return found


def _instant(
    plan: _Plan,
    moment: datetime,
    zone: ZoneInfo,
    energy: Decimal,
    elapsed: timedelta,
    dimensions: object,
) -> _Instant:
    """The state of the session at a period start, in the location's local time."""
    if plan.needs_local_time:
        local = moment.astimezone(zone)
        return _Instant(
            local.hour * 3600 + local.minute * 60 + local.second,
            local.date(),
            local.weekday(),
            energy,
            elapsed,
            dimensions,
        )
    return _Instant(0, None, 0, energy, elapsed, dimensions)


def _price(
    tariff: Tariff,
    plan: _Plan,
    periods: Sequence[ChargingPeriod],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    vat_rates: VatRates,
) -> PricedSession:
    """The pricing itself; see price_session."""
    # Billed volume per applied component, keyed by (element index, type), in first-use order.
    billed: dict[tuple[int, str], list] = {}
    last_key: dict[str, tuple[int, str]] = {}
    priced = {ENERGY: _ZERO, TIME: _ZERO, PARKING_TIME: _ZERO}
    total_energy = _ZERO
    total_parking = _ZERO

    for position, period in enumerate(periods):
        dimensions = period.dimensions
        energy = dimensions.get(ENERGY)
        charging = dimensions.get(TIME)
        parking = dimensions.get(PARKING_TIME)
        wanted = tuple(
            kind
            for kind, volume in ((ENERGY, energy), (TIME, charging), (PARKING_TIME, parking))
            if volume is not None
        )
        if position == 0:
            wanted += (FLAT,)
        if wanted:
            instant = _instant(
                plan, period.start, zone, total_energy, period.start - start, dimensions
            )
            found = _select(plan, instant, wanted)
            for kind, volume in ((ENERGY, energy), (TIME, charging), (PARKING_TIME, parking)):
                if volume is None or kind not in found:
                    continue
                index, component = found[kind]
                key = (index, kind)
                entry = billed.get(key)
                if entry is None:
                    billed[key] = [component, volume]
                else:
                    entry[1] += volume
                last_key[kind] = key
                priced[kind] += volume
            if FLAT in found:
                index, component = found[FLAT]
                billed[(index, FLAT)] = [component, _ONE]
        if energy is not None:
            total_energy += energy
        if parking is not None:
            total_parking += parking

    if not periods:
        # Without periods the connection fee is still due, judged at the session start.
        instant = _instant(plan, start, zone, _ZERO, timedelta(0), {})
        found = _select(plan, instant, (FLAT,))
        if FLAT in found:
            index, component = found[FLAT]
            billed[(index, FLAT)] = [component, _ONE]

    _apply_step_sizes(billed, last_key, priced)
    return _build_result(
        tariff, billed, vat_rates, total_energy, total_parking, _seconds(end - start)
    )


def _apply_step_sizes(
    billed: dict[tuple[int, str], list],
    last_key: dict[str, tuple[int, str]],
    priced: dict[str, Decimal],
) -> None:
    """Round consumption up once per session; the extra is billed at the last price applied."""
    energy_key = last_key.get(ENERGY)
    if energy_key is not None:
        step = billed[energy_key][0].step_size
        if step > 0:
            watt_hours = priced[ENERGY] * _THOUSAND
            rounded = _ceil_to_step(watt_hours, step)
            billed[energy_key][1] += (rounded - watt_hours) / _THOUSAND
    parking_key = last_key.get(PARKING_TIME)
    time_key = last_key.get(TIME)
    # When both occur, only parking time is rounded (OCPI 2.2.1 step_size note).
    if parking_key is not None:
        _round_duration(billed[parking_key], priced[PARKING_TIME])
    elif time_key is not None:
        _round_duration(billed[time_key], priced[TIME])


def _round_duration(entry: list, total_hours: Decimal) -> None:
    """Round a total duration up to the component's step size in seconds."""
    step = entry[0].step_size
    if step <= 0:
        return
    # CDR hours carry 4 decimals (0.36 s), so the nearest whole second is the measured one.
    seconds = (total_hours * _HOUR_SECONDS).quantize(_ONE, rounding=ROUND_HALF_UP)
    rounded = _ceil_to_step(seconds, step)
    # Snapping to the measured second may take back a fraction of a second; never more than
    # the last component itself carried, or its line would bill a negative duration.
    entry[1] = max(entry[1] + rounded / _HOUR_SECONDS - total_hours, _ZERO)


def _ceil_to_step(value: Decimal, step: int) -> Decimal:
    """The smallest multiple of step that is >= value."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _build_result(
    tariff: Tariff,
    billed: dict[tuple[int, str], list],
    vat_rates: VatRates,
    total_energy: Decimal,
    total_parking: Decimal,
    duration_seconds: Decimal,
) -> PricedSession:
    """Sum the exact costs into OCPI totals and group them into invoice lines."""
    excl = {ENERGY: _ZERO, TIME: _ZERO, PARKING_TIME: _ZERO, FLAT: _ZERO}
    incl = dict(excl)
    # (type, price, vat rate) -> [quantity, exact cost]; insertion order is first use.
    groups: dict[tuple[str, Decimal, Decimal], list] = {}
    for (_, kind), (component, volume) in billed.items():
        rate = component.vat
        if rate is None:
            rate = vat_rates.electricity if kind == ENERGY else vat_rates.services
        cost = _carried(volume * component.price)
        excl[kind] += cost
        incl[kind] += cost + cost * rate / _HUNDRED
        group_key = (kind, component.price, rate)
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [volume, cost]
        else:
            group[0] += volume
            group[1] += cost

    lines = []
    for kind in (ENERGY, TIME, PARKING_TIME, FLAT):
        for (group_kind, price, rate), (quantity, cost) in groups.items():
            if group_kind == kind:
                line = _line(kind, price, rate, quantity, cost)
                if line is not None:
                    lines.append(line)

    cost_excl = excl[ENERGY] + excl[TIME] + excl[PARKING_TIME] + excl[FLAT]
    cost_incl = incl[ENERGY] + incl[TIME] + incl[PARKING_TIME] + incl[FLAT]
    if cost_excl > limits.MAX_SESSION_TOTAL:
        raise PricingError(
            f"total_cost: the session would cost {_plain(round_money(cost_excl))} "
            f"{tariff.currency}, more than the {limits.MAX_SESSION_TOTAL} one session may "
            "cost (limit)"
        )
    total_excl, total_incl = _apply_price_limits(tariff, cost_excl, cost_incl, vat_rates)
    if total_excl != cost_excl:
        lines.extend(_adjustment_lines(total_excl, lines, vat_rates.services))

    totals = SessionTotals(
        total_cost=Price(total_excl, total_incl),
        total_fixed_cost=Price(excl[FLAT], incl[FLAT]),
        total_energy=total_energy,
        total_energy_cost=Price(excl[ENERGY], incl[ENERGY]),
        total_time=_carried(duration_seconds / _HOUR_SECONDS),
        total_time_cost=Price(excl[TIME], incl[TIME]),
        total_parking_time=total_parking,
        total_parking_cost=Price(excl[PARKING_TIME], incl[PARKING_TIME]),
        total_reservation_cost=Price(_ZERO, _ZERO),
    )
    return PricedSession(totals=totals, lines=lines, currency=tariff.currency, tariff_id=tariff.id)


def _line(
    kind: str, price: Decimal, rate: Decimal, quantity: Decimal, cost: Decimal
) -> BreakdownLine | None:
    """One breakdown line; quantities in kWh (3 dp), minutes (2 dp) or one package."""
    if kind == ENERGY:
        shown, unit, unit_price = round_energy(quantity), "kWh", price
    elif kind == FLAT:
        shown, unit, unit_price = _ONE, "package", price
    else:
        shown = round_quantity(quantity * _SIXTY, _MINUTE_PLACES)
        unit = "minute"
        unit_price = round_quantity(price / _SIXTY, _UNIT_PRICE_PLACES)
    net = round_money(cost)
    if not shown and not net:
        return None
    vat = vat_amount(net, rate)
    return BreakdownLine(
        component=COMPONENT_NAMES[kind],
        quantity=shown,
        unit=unit,
        unit_price=unit_price,
        net=net,
        vat_category="electricity" if kind == ENERGY else "services",
        vat_rate=rate,
        vat=vat,
        gross=net + vat,
    )


def _apply_price_limits(
    tariff: Tariff, excl: Decimal, incl: Decimal, vat_rates: VatRates
) -> tuple[Decimal, Decimal]:
    """Raise the session total to min_price or cap it at max_price (compared excl. VAT)."""
    limit = None
    if tariff.min_price is not None and excl < tariff.min_price.excl_vat:
        limit = tariff.min_price
    elif tariff.max_price is not None and excl > tariff.max_price.excl_vat:
        limit = tariff.max_price
    if limit is None:
        return excl, incl
    if limit.incl_vat is not None:
        return limit.excl_vat, limit.incl_vat
    if limit is tariff.max_price:
        # A cap scales the VAT of what it caps; removing it at the services rate could take
        # off more VAT than 0 %-rated components carried.
        return limit.excl_vat, _carried(incl * limit.excl_vat / excl)
    # A minimum adds a service, taxed at the services rate.
    difference = limit.excl_vat - excl
    return limit.excl_vat, incl + difference + difference * vat_rates.services / _HUNDRED


def _adjustment_lines(
    total_excl: Decimal, lines: list[BreakdownLine], services_rate: Decimal
) -> list[BreakdownLine]:
    """The min/max price difference apportioned to the lines it adjusts, pro rata to their net:
    one line per VAT category and rate, so VAT follows what is actually charged and no rate's
    net turns negative. Without any charged line (a minimum on nothing) it is a service."""
    difference = round_money(total_excl) - sum((line.net for line in lines), _ZERO)
    if not difference:
        return []
    nets: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.vat_category, line.vat_rate)
        nets[key] = nets.get(key, _ZERO) + line.net
    nets = {key: net for key, net in nets.items() if net > 0}
    if not nets:
        return [_adjustment("services", services_rate, difference)]
    base = sum(nets.values(), _ZERO)
    shares = {key: round_money(difference * net / base) for key, net in nets.items()}
    # Cents lost to rounding go to the largest share, so the shares sum to the difference.
    largest = max(nets, key=lambda key: (nets[key], key[0]))
    shares[largest] += difference - sum(shares.values(), _ZERO)
    return [
        _adjustment(category, rate, share) for (category, rate), share in shares.items() if share
    ]


def _adjustment(category: str, rate: Decimal, net: Decimal) -> BreakdownLine:
    vat = vat_amount(net, rate)
    return BreakdownLine(
        component=PRICE_ADJUSTMENT,
        quantity=_ONE,
        unit="package",
        unit_price=net,
        net=net,
        vat_category=category,
        vat_rate=rate,
        vat=vat,
        gross=net + vat,
    )


def _carried(value: Decimal) -> Decimal:
    """Carry an intermediate amount or volume to 10 decimals, half up."""
    return value.quantize(_CARRIED_PLACES, rounding=ROUND_HALF_UP)


def _seconds(delta: timedelta) -> Decimal:
    """Exact seconds of a timedelta, without passing through float."""
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / _MICROS


def _ocpi(value: Decimal) -> str:
    """An OCPI number: 4 decimals, half up, as a plain string."""
    return _plain(round_quantity(value, _OCPI_PLACES))


def _plain(value: Decimal) -> str:
    """A Decimal as fixed-point text (never 1E+1), without a negative zero."""
    text = format(value, "f")
    return text[1:] if text.startswith("-") and not value else text
