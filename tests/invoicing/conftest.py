"""Priced sessions for invoicing tests, ingested through the real services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sessions.models import ChargingSession
from sessions.services import import_tariff, ingest_sessions
from tests.factories import EVSEFactory

OCTOBER = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
TARIFF = {
    "id": "AC-1",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": Decimal("1.00"), "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": Decimal("6.00"), "step_size": 60}]},
    ],
}


@pytest.fixture
def evse(operator):
    return EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")


@pytest.fixture
def tariff(operator):
    return import_tariff(operator=operator, data=TARIFF)


@pytest.fixture
def charge(operator, evse, tariff):
    """charge(customer, count=1, start=..., energy="10.000", idle=5) -> the stored sessions."""
    counter = iter(range(1, 1_000_000))

    def charge(
        customer=None,
        *,
        count: int = 1,
        start: datetime = OCTOBER,
        energy: str = "10.000",
        idle: int = 5,
        ad_hoc_email: str = "",
    ) -> list[ChargingSession]:
        payloads = []
        for n in range(count):
            begin = start + timedelta(hours=3 * n)
            payload = {
                "source_id": f"S{next(counter):06d}",
                "evse_id": evse.evse_id,
                "tariff_id": tariff.ocpi_id,
                "start": begin.isoformat(),
                "end": (begin + timedelta(minutes=60)).isoformat(),
                "energy_kwh": energy,
                "idle_minutes": idle,
            }
            if customer is not None:
                payload["customer_id"] = customer.pk
            if ad_hoc_email:
                payload["ad_hoc_email"] = ad_hoc_email
            payloads.append(payload)
        outcomes = ingest_sessions(operator=operator, source="test", payloads=payloads)
        assert all(o.status == "created" for o in outcomes), [o.errors for o in outcomes]
        return list(
            ChargingSession.objects.filter(pk__in=[o.session_id for o in outcomes]).order_by(
                "started_at"
            )
        )

    return charge
