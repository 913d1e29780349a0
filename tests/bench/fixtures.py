"""The data every benchmark generates, in one place: reproducible and realistic.

An operator with complete invoice details, its charging sites and EVSEs, two tariff sets (one of
each shape a CPO publishes, for pricing and ingest; an AC and a DC tariff, for documents and
billing), customers and native session records. Benchmarks that need millions of rows generate
them in SQL from these rows (their own statements), at the prices below.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from decimal import Decimal as D
from typing import Any

from django.db import transaction

from customers.models import ChargingToken, Customer
from invoicing.models import InvoicingSettings, Operator
from sessions.models import EVSE, Location
from sessions.models import Tariff as StoredTariff
from sessions.pricing.cdr import ChargingPeriod, periods_from_native
from sessions.pricing.engine import PricedSession, VatRates, price_session
from sessions.pricing.tariff import Tariff, parse_tariff
from sessions.services import import_tariff, tariff_snapshots

__all__ = [
    "AC_DC_TARIFFS",
    "SITES",
    "TARIFF_MIX",
    "BenchSession",
    "Network",
    "SqlCatalogue",
    "build_sessions",
    "create_customer",
    "create_drivers",
    "create_network",
    "create_operator",
    "import_tariffs",
    "price_all",
    "session_payloads",
    "sql_catalogue",
]

BENCH_VAT = VatRates(electricity=Decimal("19"), services=Decimal("19"))

# Charging sites: (name, city, country, time zone).
SITES: tuple[tuple[str, str, str, str], ...] = (
    ("Berlin Hauptbahnhof", "Berlin", "DE", "Europe/Berlin"),
    ("Wien Süd", "Wien", "AT", "Europe/Vienna"),
    ("Amsterdam Zuid", "Amsterdam", "NL", "Europe/Amsterdam"),
    ("Lisboa Oriente", "Lisboa", "PT", "Europe/Lisbon"),
)
TIME_ZONES = tuple(zone for _name, _city, _country, zone in SITES)
DC_EVERY = 3  # one EVSE in three is a 150 kW DC charger, the others 22 kW AC

# One of each tariff shape a CPO typically publishes (pricing and ingest).
TARIFF_MIX: tuple[dict, ...] = (
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


# Energy, charging time with an idle fee, and a connection fee: two to four lines per session, as
# on a real network with AC and DC chargers (documents, billing, admin lists).
AC_DC_TARIFFS: tuple[dict, ...] = (
    {
        "country_code": "DE",
        "party_id": "BEN",
        "id": "BENCH-AC",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "ENERGY", "price": D("0.39"), "step_size": 1}]},
            {"price_components": [{"type": "PARKING_TIME", "price": D("6.00"), "step_size": 60}]},
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    },
    {
        "country_code": "DE",
        "party_id": "BEN",
        "id": "BENCH-DC",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": D("1.50"), "step_size": 1}]},
            {"price_components": [{"type": "ENERGY", "price": D("0.59"), "step_size": 1}]},
            {"price_components": [{"type": "TIME", "price": D("1.20"), "step_size": 60}]},
            {"price_components": [{"type": "PARKING_TIME", "price": D("12.00"), "step_size": 60}]},
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    },
)
# The same tariffs as SQL generators price their sessions: (energy per kWh, parking per minute,
# connection fee). They leave out the DC charging-time fee: billing and the lists read the
# stored totals and lines, nothing prices those sessions again.
AC_PRICES = (Decimal("0.390000"), Decimal("0.100000"), Decimal("0"))
DC_PRICES = (Decimal("0.590000"), Decimal("0.200000"), Decimal("1.500000"))


@dataclass(frozen=True, slots=True)
class BenchSession:
    """One synthetic session: its tariff, time zone and OCPI periods."""

    tariff: Tariff
    time_zone: str
    start: datetime
    end: datetime
    periods: list[ChargingPeriod]


def build_sessions(count: int, seed: int = 2211) -> list[BenchSession]:
    """Synthetic native sessions: 10 min to 10 h, 0-30% idle, AC and DC powers, a year of starts."""
    rng = random.Random(seed)
    tariffs = [parse_tariff(data) for data in TARIFF_MIX]
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
                time_zone=rng.choice(TIME_ZONES),
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


# --- rows in the database ------------------------------------------------------------------


def create_operator(*, name: str = "VoltWay", **settings: Any) -> Operator:
    """An operator with complete invoice details and its invoicing settings (`settings`)."""
    with transaction.atomic():
        operator = Operator.objects.create(
            name=name,
            legal_name="VoltWay Charging GmbH",
            street="Invalidenstraße 117",
            postal_code="10115",
            city="Berlin",
            country="DE",
            vat_id="DE136695976",
            tax_number="30/123/45678",
            email="billing@voltway.example",
            phone="+49 30 1234567",
            bank_details="IBAN DE89 3704 0044 0532 0130 00 · BIC COBADEFFXXX",
        )
        InvoicingSettings.objects.create(operator=operator, **settings)
    return operator


@dataclass
class Network:
    """An operator's EVSEs: AC (22 kW) and DC (150 kW)."""

    ac: list[EVSE]
    dc: list[EVSE]

    @property
    def evse_ids(self) -> list[str]:
        return sorted(e.evse_id for e in (*self.ac, *self.dc))


def create_network(operator: Operator, *, locations: int, evses_per_location: int) -> Network:
    """Locations over the `SITES` (and their time zones), each with its EVSEs."""
    network = Network(ac=[], dc=[])
    with transaction.atomic():
        for index in range(locations):
            name, city, country, zone = SITES[index % len(SITES)]
            location = Location.objects.create(
                operator=operator,
                name=name if index < len(SITES) else f"{name} {index // len(SITES) + 1}",
                street="Europaplatz 1",
                postal_code="10557",
                city=city,
                country=country,
                time_zone=zone,
            )
            for n in range(evses_per_location):
                dc = n % DC_EVERY == 0
                (network.dc if dc else network.ac).append(
                    EVSE.objects.create(
                        location=location,
                        evse_id=f"DE*BCH*E{location.pk}{n:03d}",
                        max_power_kw=Decimal(150 if dc else 22),
                    )
                )
    return network


def import_tariffs(operator: Operator, tariffs: Iterable[dict]) -> list[StoredTariff]:
    """The tariffs imported as an operator imports theirs."""
    return [import_tariff(operator=operator, data=data) for data in tariffs]


def create_customer(operator: Operator, *, company: bool = False, **fields: Any) -> Customer:
    """A customer with complete invoice details: a driver, or with `company` a fleet company."""
    details: dict[str, Any] = {
        "street": "Musterstraße 1",
        "postal_code": "10117",
        "city": "Berlin",
        "country": "DE",
        "language": "de",
        "requires_invoice": True,
    }
    if company:
        details |= {
            "kind": Customer.Kind.COMPANY,
            "company_name": "Logistik Nord GmbH",
            "vat_id": "DE811907980",
            "email": "fleet@logistik-nord.example",
            "billing_mode": Customer.BillingMode.MONTHLY,
        }
    else:
        details |= {"kind": Customer.Kind.INDIVIDUAL, "name": "Anna Schmidt"}
        details["email"] = "anna@example.org"
    return Customer.objects.create(operator=operator, **(details | fields))


def create_drivers(operator: Operator, count: int) -> list[str]:
    """`count` drivers, each with an RFID charging token; returns the tokens' UIDs."""
    uids = []
    with transaction.atomic():
        for n in range(count):
            customer = Customer.objects.create(
                operator=operator, kind=Customer.Kind.INDIVIDUAL, name=f"Driver {n}"
            )
            token = ChargingToken.objects.create(
                customer=customer, kind=ChargingToken.Kind.RFID, uid=f"B{operator.pk}T{n}"
            )
            uids.append(token.uid)
    return uids


def session_payloads(
    starts: Iterable[datetime],
    *,
    evse_ids: Sequence[str],
    tariff_ids: Sequence[str],
    prefix: str,
    customer_id: int | None = None,
    token_uids: Sequence[str] = (),
    seed: int = 7,
) -> Iterator[dict]:
    """Native session records, one per start: 20 min to 4 h, idle 0-20 min, 1-80 kWh.

    A record names `customer_id` when given; otherwise 4 in 5 carry one of the `token_uids`.
    """
    rng = random.Random(seed)
    for n, start in enumerate(starts):
        idle = rng.choice((0, 0, 5, 20))
        payload = {
            "source_id": f"{prefix}{n:09d}",
            "evse_id": rng.choice(evse_ids),
            "tariff_id": rng.choice(tariff_ids),
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=rng.randint(20, 240) + idle)).isoformat(),
            "energy_kwh": str(Decimal(rng.randint(1000, 80000)) / 1000),
            "idle_minutes": idle,
        }
        if customer_id is not None:
            payload["customer_id"] = customer_id
        elif token_uids and rng.random() < 0.8:
            payload["token_uid"] = rng.choice(token_uids)
        yield payload


@dataclass
class SqlCatalogue:
    """Row ids SQL generators fill their sessions with: EVSEs, tariffs and their snapshots."""

    ac_evses: list[int]
    dc_evses: list[int]
    tariffs: dict[str, int]  # "AC"/"DC"
    snapshots: dict[str, int]


def sql_catalogue(operator: Operator) -> SqlCatalogue:
    """Three sites of 12 EVSEs and the AC and DC tariffs, for sessions generated in SQL."""
    network = create_network(operator, locations=3, evses_per_location=12)
    with transaction.atomic():
        ac, dc = import_tariffs(operator, AC_DC_TARIFFS)
        snapshots = tariff_snapshots({ac.ocpi_json, dc.ocpi_json})
    return SqlCatalogue(
        ac_evses=[e.pk for e in network.ac],
        dc_evses=[e.pk for e in network.dc],
        tariffs={"AC": ac.pk, "DC": dc.pk},
        snapshots={"AC": snapshots[ac.ocpi_json].pk, "DC": snapshots[dc.ocpi_json].pk},
    )
