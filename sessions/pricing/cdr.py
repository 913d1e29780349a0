"""Charging periods: parsed from an OCPI 2.2.1 CDR or built from the CPMS's native record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from sessions.pricing import limits
from sessions.pricing._values import read_datetime, read_number, utc_datetime
from sessions.pricing.errors import CdrError

__all__ = [
    "CDR_DIMENSIONS",
    "CdrInput",
    "ChargingPeriod",
    "parse_cdr",
    "periods_from_native",
    "with_measured_energy",
]

# OCPI 2.2.1 CdrDimensionType. Volumes: kWh, A, kW, hours, percent.
CDR_DIMENSIONS = frozenset(
    {
        "CURRENT",
        "ENERGY",
        "ENERGY_EXPORT",
        "ENERGY_IMPORT",
        "MAX_CURRENT",
        "MIN_CURRENT",
        "MAX_POWER",
        "MIN_POWER",
        "PARKING_TIME",
        "POWER",
        "RESERVATION_TIME",
        "STATE_OF_CHARGE",
        "TIME",
    }
)
_ZERO = Decimal(0)
_SIXTY = Decimal(60)
_HOUR_SECONDS = Decimal(3600)
_MICROS = Decimal(1_000_000)
# Hours from seconds do not terminate (20 min = 0.333... h): keep as many digits as the engine.
_CONTEXT = Context(prec=34)


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """A CDR charging period: it starts at `start` and lasts until the next period (or the end)."""

    start: datetime
    dimensions: Mapping[str, Decimal]
    tariff_id: str | None = None


@dataclass(frozen=True, slots=True)
class CdrInput:
    """What pricing needs from a CDR: its time span and its charging periods."""

    start: datetime
    end: datetime
    periods: tuple[ChargingPeriod, ...]
    currency: str | None = None
    total_energy: Decimal | None = None


def parse_cdr(data: Mapping[str, Any]) -> CdrInput:
    """Validate the pricing-relevant part of an OCPI 2.2.1 CDR (times in UTC, volumes exact)."""
    if not isinstance(data, Mapping):
        raise CdrError("cdr: must be a JSON object")
    for name in ("start_date_time", "end_date_time", "charging_periods"):
        if name not in data:
            raise CdrError(f"{name}: is required")
    start = read_datetime(data["start_date_time"], "start_date_time", CdrError)
    end = read_datetime(data["end_date_time"], "end_date_time", CdrError)
    _check_span(start, end, "start_date_time", "end_date_time")
    raw_periods = data["charging_periods"]
    if not isinstance(raw_periods, list) or not raw_periods:
        raise CdrError("charging_periods: must be a non-empty list")
    if len(raw_periods) > limits.MAX_CHARGING_PERIODS:
        raise CdrError(
            f"charging_periods: at most {limits.MAX_CHARGING_PERIODS} charging periods (limit), "
            f"got {len(raw_periods)}"
        )
    periods = tuple(
        _parse_period(raw, f"charging_periods[{i}]", start, end)
        for i, raw in enumerate(raw_periods)
    )
    energy = sum((p.dimensions.get("ENERGY", _ZERO) for p in periods), _ZERO)
    if energy > limits.MAX_SESSION_ENERGY_KWH:
        raise CdrError(
            f"charging_periods: at most {limits.MAX_SESSION_ENERGY_KWH} kWh in one session "
            f"(limit), got {energy}"
        )
    currency = data.get("currency")
    if currency is not None and not isinstance(currency, str):
        raise CdrError("currency: must be a string such as EUR")
    total_energy = None
    if data.get("total_energy") is not None:
        total_energy = read_number(
            data["total_energy"],
            "total_energy",
            CdrError,
            minimum=_ZERO,
            maximum=limits.MAX_SESSION_ENERGY_KWH,
        )
    return CdrInput(
        start=start, end=end, periods=periods, currency=currency, total_energy=total_energy
    )


def _parse_period(raw: object, path: str, start: datetime, end: datetime) -> ChargingPeriod:
    """Parse one charging period; it must start within the session."""
    if not isinstance(raw, Mapping):
        raise CdrError(f"{path}: must be a JSON object")
    if "start_date_time" not in raw:
        raise CdrError(f"{path}.start_date_time: is required")
    period_start = read_datetime(raw["start_date_time"], f"{path}.start_date_time", CdrError)
    if not start <= period_start <= end:
        raise CdrError(
            f"{path}.start_date_time: {period_start.isoformat()} is outside the session "
            f"({start.isoformat()} to {end.isoformat()})"
        )
    raw_dimensions = raw.get("dimensions")
    if not isinstance(raw_dimensions, list) or not raw_dimensions:
        raise CdrError(f"{path}.dimensions: must be a non-empty list of {{type, volume}}")
    dimensions: dict[str, Decimal] = {}
    for i, dimension in enumerate(raw_dimensions):
        dim_path = f"{path}.dimensions[{i}]"
        if not isinstance(dimension, Mapping):
            raise CdrError(f"{dim_path}: must be a JSON object with type and volume")
        kind = dimension.get("type")
        if kind not in CDR_DIMENSIONS:
            raise CdrError(f"{dim_path}.type: {kind!r} is not an OCPI 2.2.1 CDR dimension type")
        if kind in dimensions:
            raise CdrError(f"{dim_path}.type: {kind} appears twice in the same period")
        if "volume" not in dimension:
            raise CdrError(f"{dim_path}.volume: is required")
        dimensions[kind] = read_number(
            dimension["volume"],
            f"{dim_path}.volume",
            CdrError,
            minimum=_ZERO,
            maximum=limits.MAX_SESSION_ENERGY_KWH if kind == "ENERGY" else limits.MAX_VOLUME,
        )
    tariff_id = raw.get("tariff_id")
    if tariff_id is not None and not isinstance(tariff_id, str):
        raise CdrError(f"{path}.tariff_id: must be a string")
    return ChargingPeriod(start=period_start, dimensions=dimensions, tariff_id=tariff_id)


def periods_from_native(
    *,
    start: datetime,
    end: datetime,
    energy_kwh: Decimal,
    idle_minutes: Decimal,
    max_power_kw: Decimal | None = None,
) -> list[ChargingPeriod]:
    """Turn the CPMS record (charging first, idle at the end) into OCPI charging periods."""
    start = utc_datetime(start, "start", CdrError)
    end = utc_datetime(end, "end", CdrError)
    _check_span(start, end, "start", "end")
    energy = read_number(energy_kwh, "energy_kwh", CdrError, maximum=limits.MAX_SESSION_ENERGY_KWH)
    if energy < _ZERO:
        raise CdrError(f"energy_kwh: must not be negative, got {energy}")
    idle = read_number(idle_minutes, "idle_minutes", CdrError)
    if idle < _ZERO:
        raise CdrError(f"idle_minutes: must not be negative, got {idle}")
    duration_seconds = _seconds(end - start)
    idle_seconds = idle * _SIXTY
    if idle_seconds > duration_seconds:
        raise CdrError(
            f"idle_minutes: {idle} minutes of idle time exceed the session duration of "
            f"{duration_seconds / _SIXTY:.2f} minutes"
        )
    charging_seconds = duration_seconds - idle_seconds

    charging: dict[str, Decimal] = {
        "TIME": _CONTEXT.divide(charging_seconds, _HOUR_SECONDS),
        "ENERGY": energy,
    }
    if max_power_kw is not None:
        power = read_number(max_power_kw, "max_power_kw", CdrError, maximum=limits.MAX_POWER_KW)
        if power < _ZERO:
            raise CdrError(f"max_power_kw: must not be negative, got {power}")
        charging["MAX_POWER"] = power

    periods = []
    # A session that was idle from plug-in to plug-out has no charging period unless energy flowed.
    if charging_seconds > _ZERO or energy > _ZERO or idle_seconds == _ZERO:
        periods.append(ChargingPeriod(start=start, dimensions=charging))
    if idle_seconds > _ZERO:
        micros = int((idle_seconds * _MICROS).to_integral_value())
        periods.append(
            ChargingPeriod(
                start=end - timedelta(microseconds=micros),
                dimensions={"PARKING_TIME": _CONTEXT.divide(idle, _SIXTY)},
            )
        )
    return periods


def _check_span(start: datetime, end: datetime, start_name: str, end_name: str) -> None:
    """A session ends after it starts, within the session years and the longest duration."""
    limits.within_session_years(start, start_name, CdrError)
    limits.within_session_years(end, end_name, CdrError)
    if end < start:
        raise CdrError(f"{end_name}: {end.isoformat()} is before {start_name} {start.isoformat()}")
    if end - start > limits.MAX_SESSION_DURATION:
        raise CdrError(
            f"{end_name}: a session lasts at most {limits.MAX_SESSION_DURATION.days} days "
            f"(limit), this one {_seconds(end - start) / 86400:.1f} days"
        )


def _seconds(delta: timedelta) -> Decimal:
    """Exact seconds of a timedelta, without passing through float."""
    whole = delta.days * 86400 + delta.seconds
    return Decimal(whole) + Decimal(delta.microseconds) / _MICROS


_WH = Decimal("0.001")


def with_measured_energy(periods: list[ChargingPeriod], total_kwh: Decimal) -> list[ChargingPeriod]:
    """The periods with their ENERGY volumes set so that they add up to the measured energy:
    each in proportion to what the CPMS reported (to the Wh), the last taking the rest."""
    reported = [p.dimensions.get("ENERGY", _ZERO) for p in periods]
    if sum(reported, _ZERO) == total_kwh or not periods:
        return list(periods)
    carriers = [i for i, volume in enumerate(reported) if volume > _ZERO] or [0]
    whole = sum(reported, _ZERO)
    volumes: dict[int, Decimal] = {}
    for i in carriers[:-1]:
        volumes[i] = (reported[i] * total_kwh / whole).quantize(_WH)
    volumes[carriers[-1]] = total_kwh - sum(volumes.values(), _ZERO)
    return [
        ChargingPeriod(
            start=p.start,
            dimensions={**p.dimensions, "ENERGY": volumes[i]} if i in volumes else p.dimensions,
            tariff_id=p.tariff_id,
        )
        for i, p in enumerate(periods)
    ]
