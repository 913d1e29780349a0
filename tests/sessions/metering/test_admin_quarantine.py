"""Staff resolve quarantined sessions in the admin: find them, verify again after registering
the meter's key, or write them off with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from sessions.metering.simulator import SimulatedMeter
from sessions.models import ChargingSession
from sessions.services import ingest_sessions
from tests.factories import EVSEFactory
from tests.invoicing.helpers import helper_tariff

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CHANGELIST = "admin:charging_chargingsession_changelist"


@pytest.fixture
def meter():
    return SimulatedMeter(serial="EMH-A1")


@pytest.fixture
def quarantined(operator, meter):
    """A signed session at an EVSE whose key nobody registered yet."""
    evse = EVSEFactory(location__operator=operator, calibration_law_relevant=True)
    end = START + timedelta(hours=1)
    (outcome,) = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[
            {
                "source_id": "Q-1",
                "evse_id": evse.evse_id,
                "tariff_id": helper_tariff(operator).ocpi_id,
                "start": START.isoformat(),
                "end": end.isoformat(),
                "energy_kwh": "11.0",
                "ocmf": list(meter.transaction(start=START, end=end, start_wh=0, end_wh=10_000)),
            }
        ],
    )
    return ChargingSession.objects.get(pk=outcome.session_id)


def act(admin_client, action, session, **extra):
    return admin_client.post(
        reverse(CHANGELIST),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [session.pk], **extra},
        follow=True,
    )


def test_the_list_filters_quarantined_sessions_and_says_why(admin_client, quarantined):
    page = admin_client.get(reverse(CHANGELIST), {"quarantine": "open"}).content.decode()
    assert "Q-1" in page and "quarantined" in page
    change = admin_client.get(
        reverse("admin:charging_chargingsession_change", args=[quarantined.pk])
    ).content.decode()
    assert "No public key is registered for this EVSE" in change


def test_verifying_again_after_registering_the_key_releases_it(admin_client, quarantined, meter):
    response = act(admin_client, "verify_signed_data", quarantined)
    assert "0 priced, 1 still quarantined" in response.content.decode()
    evse = quarantined.evse
    evse.meter_public_key = meter.public_key_hex
    evse.save()
    response = act(admin_client, "verify_signed_data", quarantined)
    assert "1 priced, 0 still quarantined" in response.content.decode()
    quarantined.refresh_from_db()
    assert quarantined.quarantine == "" and quarantined.priced_at is not None


def test_writing_off_asks_for_a_reason_then_keeps_it(admin_client, quarantined):
    form = act(admin_client, "write_off_sessions", quarantined)
    assert "Reason" in form.content.decode()
    quarantined.refresh_from_db()
    assert quarantined.quarantine == "open"
    done = act(
        admin_client, "write_off_sessions", quarantined, apply="1", reason="Meter exchanged."
    )
    assert "Wrote off 1 session." in done.content.decode()
    quarantined.refresh_from_db()
    assert quarantined.quarantine == "written_off"
    assert quarantined.meter_issues[-1] == "Written off: Meter exchanged."


def test_repricing_a_quarantined_session_is_refused_with_the_reason(admin_client, quarantined):
    response = act(admin_client, "reprice", quarantined)
    assert "is quarantined" in response.content.decode()
    quarantined.refresh_from_db()
    assert quarantined.priced_at is None
