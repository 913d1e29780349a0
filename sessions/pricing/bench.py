"""A reproducible benchmark workload: realistic tariffs and synthetic native sessions."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from decimal import Decimal as D

from sessions.pricing.cdr import ChargingPeriod, periods_from_native
from sessions.pricing.engine import PricedSession, VatRates, price_session
from sessions.pricing.tariff import Tariff, parse_tariff

__all__ = ["BENCH_TARIFFS", "BenchSession", "build_sessions", "price_all"]

BENCH_VAT = VatRates(electricity=Decimal("19"), services=Decimal("19"))
BENCH_TIME_ZONES = ("Europe/Berlin", "Europe/Amsterdam", "Europe/Lisbon", "UTC")

# One of each tariff shape a CPO typically publishes.
BENCH_TARIFFS: tuple[dict, ...] = (
    {
        "id": "simple-kwh",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": D("0.39"), "step_size": 1}]}
        ],
    },
    {
        "id": "day-night",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [{"type": "ENERGY", "price": D("0.45"), "step_size": 1}],
                "restrictions": {"start_time": "07:00", "end_time": "22:00"},
            },
            {
                "price_components": [{"type": "ENERGY", "price": D("0.30"), "step_size": 1}],
                "restrictions": {"start_time": "22:00", "end_time": "07:00"},
            },
        ],
    },
    {
        "id": "idle-fee",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": D("0.49"), "step_size": 100},
                    {"type": "PARKING_TIME", "price": D("6.00"), "step_size": 300},
                ],
                "restrictions": {"min_duration": 10800},
            },
            {
                "price_components": [
                    {"type": "ENERGY", "price": D("0.49"), "step_size": 100},
                    {"type": "PARKING_TIME", "price": D("0.00"), "step_size": 300},
                ]
            },
        ],
    },
    {
        "id": "flat-min-max",
        "currency": "EUR",
        "min_price": {"excl_vat": D("2.00"), "incl_vat": D("2.38")},
        "max_price": {"excl_vat": D("25.00"), "incl_vat": D("29.75")},
        "elements": [
            {
                "price_components": [
                    {"type": "FLAT", "price": D("1.00"), "vat": 19, "step_size": 1},
                    {"type": "ENERGY", "price": D("0.35"), "vat": 19, "step_size": 1},
                ]
            }
        ],
    },
    {
        "id": "dc-power-weekend",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [{"type": "ENERGY", "price": D("0.49"), "step_size": 1}],
                "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]},
            },
            {
                "price_components": [{"type": "ENERGY", "price": D("0.59"), "step_size": 1}],
                "restrictions": {"min_power": 50},
            },
            {
                "price_components": [
                    {"type": "ENERGY", "price": D("0.45"), "step_size": 1},
                    {"type": "TIME", "price": D("3.00"), "step_size": 60},
                ],
                "restrictions": {"max_power": 50, "min_duration": 3600},
            },
            {"price_components": [{"type": "ENERGY", "price": D("0.45"), "step_size": 1}]},
        ],
    },
)


@dataclass(frozen=True, slots=True)
class BenchSession:
    """One synthetic session: its tariff, time zone and OCPI periods."""

    tariff: Tariff
    time_zone: str
    start: datetime
    end: datetime
    periods: list[ChargingPeriod]


def bench_tariffs() -> list[Tariff]:
    """Parse the benchmark tariffs once, as the billing run does."""
    return [parse_tariff(data) for data in BENCH_TARIFFS]


def build_sessions(count: int, seed: int = 2211) -> list[BenchSession]:
    """Synthetic native sessions: 10 min to 10 h, 0-30% idle, AC and DC powers, a year of starts."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not security
    tariffs = bench_tariffs()
    year_start = datetime(2024, 1, 1, tzinfo=UTC)
    sessions = []
    for _ in range(count):
        start = year_start + timedelta(seconds=rng.randrange(366 * 86400))
        minutes = rng.randint(10, 600)
        end = start + timedelta(minutes=minutes)
        idle = Decimal(rng.randint(0, minutes * 3 // 10))
        power = Decimal(rng.choice((11, 22, 50, 150, 300)))
        charging_hours = (Decimal(minutes) - idle) / 60
        energy = min(charging_hours * power * Decimal("0.7"), Decimal(95)).quantize(
            Decimal("0.001")
        )
        periods = periods_from_native(
            start=start, end=end, energy_kwh=energy, idle_minutes=idle, max_power_kw=power
        )
        sessions.append(
            BenchSession(
                tariff=rng.choice(tariffs),
                time_zone=rng.choice(BENCH_TIME_ZONES),
                start=start,
                end=end,
                periods=periods,
            )
        )
    return sessions


def price_all(sessions: Iterable[BenchSession]) -> Iterator[PricedSession]:
    """Price each session in turn (one core)."""
    for session in sessions:
        yield price_session(
            tariff=session.tariff,
            periods=session.periods,
            start=session.start,
            end=session.end,
            time_zone=session.time_zone,
            vat_rates=BENCH_VAT,
        )
