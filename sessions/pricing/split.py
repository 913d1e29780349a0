"""Cut charging periods where a tariff's restrictions can change the price (native records).

The engine chooses the tariff element at each period's start (docs/pricing.md, rule 3). A CDR's
periods are what the CPMS measured, but the CPMS's native record yields one long charging period,
so a session from 21:00 to 23:00 would be priced entirely at the day rate. This module cuts such
periods at every instant where a restriction could change its outcome:

- each local occurrence of a restriction's `start_time` / `end_time` (in the location's time
  zone, zoneinfo), and the instant of a daylight-saving switch when the clock jumps over or back
  across one of those times;
- each local midnight, if an element restricts `start_date`, `end_date` or `day_of_week`;
- session start + `min_duration` / `max_duration` (real elapsed seconds);
- the instant the session's energy reaches `min_kwh` / `max_kwh`, assuming constant power.

Volumes (kWh, hours) are shared in proportion to each piece's duration, exactly in Decimal:
cumulative shares are floored to 20 decimals and the last piece gets the remainder, so the pieces
of a dimension sum to the original volume. Levels (MAX_POWER, CURRENT, ...) are copied.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from zoneinfo import ZoneInfo

from sessions.pricing._values import utc_datetime
from sessions.pricing.cdr import ChargingPeriod
from sessions.pricing.engine import _zone
from sessions.pricing.errors import CdrError
from sessions.pricing.tariff import Tariff

__all__ = ["VOLUME_DIMENSIONS", "split_periods_at_tariff_boundaries"]

# Dimensions that add up over a period's duration; every other dimension is a level (or a state
# of charge) and is the same in each piece.
VOLUME_DIMENSIONS = frozenset(
    {"ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "PARKING_TIME", "RESERVATION_TIME", "TIME"}
)

_ZERO = Decimal(0)
_ZERO_DELTA = timedelta(0)
_DAY_MICROS = 86_400_000_000
_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
# Shares before the last piece carry 20 decimals (far below a Wh or a millisecond); wide enough
# a context that volume x microseconds is exact before the division.
_SHARE_PLACES = Decimal("1E-20")
_CONTEXT = Context(prec=60)


def split_periods_at_tariff_boundaries(
    periods: Sequence[ChargingPeriod],
    *,
    tariff: Tariff,
    end: datetime,
    time_zone: str | ZoneInfo = "UTC",
    start: datetime | None = None,
) -> list[ChargingPeriod]:
    """Cut each period wherever a restriction of `tariff` could start or stop to hold.

    `start` is the session start that `min_duration`/`max_duration` count from (default: the
    first period's start); `end` closes the last period. Pieces come in time order. Without any
    boundary inside the session the periods are returned as they are (the same objects).
    """
    times, durations, thresholds = _boundaries_of(tariff)
    if not periods or not (times or durations or thresholds):
        return list(periods)
    zone = _zone(time_zone)
    end = _utc(end, "end")
    starts = [
        p.start if p.start.tzinfo is UTC else _utc(p.start, f"charging_periods[{i}].start")
        for i, p in enumerate(periods)
    ]
    ordered = list(zip(starts, periods, strict=True))
    if any(starts[i] >= starts[i + 1] for i in range(len(starts) - 1)):
        # As the engine orders them: by start, ties by content.
        ordered.sort(key=lambda item: (item[0], sorted(item[1].dimensions.items())))
    first = ordered[0][0]
    origin = first if start is None else _utc(start, "start")

    cuts = {origin + timedelta(seconds=seconds) for seconds in durations}
    if times and first < end:
        cuts.update(_local_boundaries(times, zone, first, end))
    instants = sorted(cuts)

    result: list[ChargingPeriod] = []
    changed = False
    energy_before = _ZERO
    for position, (period_start, period) in enumerate(ordered):
        period_end = ordered[position + 1][0] if position + 1 < len(ordered) else end
        inside = instants[
            bisect.bisect_right(instants, period_start) : bisect.bisect_left(instants, period_end)
        ]
        energy = period.dimensions.get("ENERGY")
        floors: dict[datetime, Decimal] = {}
        if thresholds and energy and period_end > period_start:
            floors = _energy_crossings(thresholds, energy_before, energy, period_start, period_end)
        if inside or floors:
            result.extend(_cut(period, period_start, period_end, inside, floors))
            changed = True
        else:
            result.append(period)
        if energy is not None:
            energy_before = _CONTEXT.add(energy_before, energy)
    return result if changed else list(periods)


def _utc(moment: datetime, path: str) -> datetime:
    """An aware datetime in UTC (the arithmetic here is on instants, never on wall clocks)."""
    if isinstance(moment, datetime) and moment.tzinfo is UTC:
        return moment
    return utc_datetime(moment, path, CdrError)


# Boundaries per tariff object, kept with the tariff so that its id cannot be reused meanwhile.
_BOUNDARIES: dict[int, tuple[Tariff, tuple]] = {}
_BOUNDARIES_SIZE = 256


def _boundaries_of(
    tariff: Tariff,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[Decimal, ...]]:
    """The tariff's boundaries, computed once per tariff object."""
    entry = _BOUNDARIES.get(id(tariff))
    if entry is not None and entry[0] is tariff:
        return entry[1]
    boundaries = _restriction_boundaries(tariff)
    if len(_BOUNDARIES) >= _BOUNDARIES_SIZE:
        _BOUNDARIES.clear()
    _BOUNDARIES[id(tariff)] = (tariff, boundaries)
    return boundaries


def _restriction_boundaries(
    tariff: Tariff,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[Decimal, ...]]:
    """Where some restriction can flip: local times of day (microseconds since midnight),
    elapsed seconds and kWh."""
    times: set[int] = set()
    durations: set[int] = set()
    thresholds: set[Decimal] = set()
    for element in tariff.elements:
        r = element.restrictions
        # Reservation elements are never priced (engine._plan_for skips them).
        if r is None or r.reservation is not None:
            continue
        if r.start_time is not None:
            times.add(_micros_of_day(r.start_time))
        if r.end_time is not None:
            times.add(_micros_of_day(r.end_time))
        if r.start_date is not None or r.end_date is not None or r.day_of_week:
            times.add(0)
        for seconds in (r.min_duration, r.max_duration):
            if seconds:
                durations.add(seconds)
        for kwh in (r.min_kwh, r.max_kwh):
            if kwh:
                thresholds.add(kwh)
    return tuple(sorted(times)), tuple(durations), tuple(sorted(thresholds))


def _micros_of_day(moment: time) -> int:
    """Microseconds since midnight of a time of day."""
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000


# --- local time ---------------------------------------------------------------------------------


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    """The zone's UTC offset at an instant."""
    return moment.astimezone(zone).utcoffset()  # type: ignore[return-value]


def _local_boundaries(
    times: tuple[int, ...], zone: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """Instants in (start, end) where the local clock reaches one of `times` or jumps across one.

    `times` are microseconds since local midnight. Between two UTC-offset changes the local clock
    runs with real time, so its occurrences of a time of day follow by arithmetic; at a change
    (daylight saving) the clock jumps, and the change itself is a boundary when one of the times
    lies within the jump (inclusive: an extra cut never changes the price).
    """
    found: list[datetime] = []
    segment_start = start
    offset = _offset(zone, start)
    for switch, before, after in _offset_changes(zone, start, end, offset):
        found.extend(_occurrences(times, segment_start, switch, offset))
        low, high = min(before, after), max(before, after)
        # Around the switch the clock shows every wall time from switch + low to switch + high
        # (naive walls here, hence offset zero); a listed time among them can flip a restriction.
        wall_low = switch + low - _ONE_MICROSECOND
        if _occurrences(times, wall_low, switch + high + _ONE_MICROSECOND, _ZERO_DELTA):
            found.append(switch)
        segment_start, offset = switch, after
    found.extend(_occurrences(times, segment_start, end, offset))
    return found


def _occurrences(
    times: tuple[int, ...], start: datetime, end: datetime, offset: timedelta
) -> list[datetime]:
    """Instants strictly between start and end where a clock at `offset` shows one of `times`."""
    wall = start + offset
    now = ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond
    span = _micros(end - start)
    found = []
    for moment in times:
        ahead = (moment - now) % _DAY_MICROS or _DAY_MICROS
        while ahead < span:
            found.append(start + timedelta(microseconds=ahead))
            ahead += _DAY_MICROS
    return found


def _offset_changes(
    zone: ZoneInfo, start: datetime, end: datetime, offset: timedelta
) -> list[tuple[datetime, timedelta, timedelta]]:
    """(instant, offset before, offset after) of each UTC-offset change in (start, end].

    The offset is sampled once a day (time zones never change it twice within a day) and a
    change is located to the second by bisection; offsets change on whole UTC seconds.
    """
    changes = []
    low, low_offset = start, offset
    while low < end:
        high = min(low + _ONE_DAY, end)
        high_offset = _offset(zone, high)
        if high_offset != low_offset:
            switch = _offset_change(zone, low, high, low_offset)
            changes.append((switch, low_offset, _offset(zone, switch)))
        low, low_offset = high, high_offset
    return changes


def _offset_change(zone: ZoneInfo, low: datetime, high: datetime, before: timedelta) -> datetime:
    """The first whole second in (low, high] whose offset is not `before` (low has `before`)."""
    low = low.replace(microsecond=0)
    if high.microsecond:
        high = high.replace(microsecond=0) + _ONE_SECOND
    while high - low > _ONE_SECOND:
        middle = low + timedelta(seconds=((high - low) // _ONE_SECOND) // 2)
        if _offset(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


# --- cutting ------------------------------------------------------------------------------------


def _micros(delta: timedelta) -> int:
    """A timedelta in whole microseconds."""
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _energy_crossings(
    thresholds: tuple[Decimal, ...],
    before: Decimal,
    energy: Decimal,
    start: datetime,
    end: datetime,
) -> dict[datetime, Decimal]:
    """Where the session energy reaches a min_kwh/max_kwh within the period, at constant power.

    Maps the instant (rounded up to the microsecond, so the threshold is reached by then) to the
    energy of this period charged before it: exactly the threshold minus what came before.
    """
    crossings: dict[datetime, Decimal] = {}
    span = _micros(end - start)
    for threshold in thresholds:
        if before < threshold < _CONTEXT.add(before, energy):
            needed = _CONTEXT.subtract(threshold, before)
            share = _CONTEXT.divide(_CONTEXT.multiply(needed, span), energy)
            micros = int(share.to_integral_value(rounding=ROUND_CEILING))
            if 0 < micros < span:
                crossings[start + timedelta(microseconds=micros)] = needed
    return crossings


def _cut(
    period: ChargingPeriod,
    start: datetime,
    end: datetime,
    instants: list[datetime],
    floors: Mapping[datetime, Decimal],
) -> list[ChargingPeriod]:
    """The period in pieces at `instants` and at the energy crossings (`floors`: cut -> energy
    of the period before it); volumes are shared by time."""
    cuts = sorted(set(instants).union(floors)) if floors else instants
    span = _micros(end - start)
    offsets = [_micros(cut - start) for cut in cuts]
    # Cumulative volume of each dimension at each cut, floored so no piece is negative.
    cumulative: dict[str, list[Decimal]] = {}
    for name, volume in period.dimensions.items():
        if name not in VOLUME_DIMENSIONS:
            continue
        marks = []
        previous = _ZERO
        for cut, offset in zip(cuts, offsets, strict=True):
            share = _CONTEXT.divide(_CONTEXT.multiply(volume, offset), span)
            mark = share.quantize(_SHARE_PLACES, rounding=ROUND_FLOOR, context=_CONTEXT)
            if name == "ENERGY" and cut in floors:
                # A kWh threshold is reached exactly at its cut (the linear crossing is at most a
                # microsecond earlier): "first 1 kWh free" gives exactly 1 kWh free.
                mark = floors[cut]
            mark = min(max(mark, previous), volume)
            marks.append(mark)
            previous = mark
        cumulative[name] = marks

    pieces = []
    for position in range(len(cuts) + 1):
        dimensions: dict[str, Decimal] = {}
        for name, volume in period.dimensions.items():
            marks = cumulative.get(name)
            if marks is None:
                dimensions[name] = volume
                continue
            upper = marks[position] if position < len(cuts) else volume
            lower = marks[position - 1] if position else _ZERO
            dimensions[name] = _tidy(_CONTEXT.subtract(upper, lower))
        moment = period.start if position == 0 else cuts[position - 1]
        pieces.append(
            ChargingPeriod(start=moment, dimensions=dimensions, tariff_id=period.tariff_id)
        )
    return pieces


def _tidy(value: Decimal) -> Decimal:
    """Drop the trailing zeros the 20-decimal shares leave (10.000...0 -> 10), keep the value."""
    if not value:
        return _ZERO
    normal = value.normalize(_CONTEXT)
    return normal if normal.as_tuple().exponent <= 0 else normal.quantize(Decimal(1))
