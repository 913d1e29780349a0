"""Ingesting sessions from the CPMS: priced on arrival, idempotent, refused with field errors."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from customers.models import Customer
from sessions.models import ChargingSession, SessionChargeLine, Tariff, TariffSnapshot
from sessions.services import (
    import_tariff,
    ingest_sessions,
    load_json,
    reprice_session,
)
from tests.factories import ChargingTokenFactory, EVSEFactory

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ocpi-tariffs-testdata"

DAY_TARIFF = {
    "id": "AC-1",
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": Decimal("6.00"), "step_size": 60}]},
    ],
}


@pytest.fixture
def evse(operator):
    return EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")


@pytest.fixture
def tariff(operator):
    return import_tariff(operator=operator, data=DAY_TARIFF)


class Rejected(Exception):
    """The one record was refused; `errors` maps each field to its problems."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def ingest_session(*, operator, source, payload, payload_format) -> tuple[ChargingSession, bool]:
    """One record through ingest_sessions: (session, created), or Rejected with its errors."""
    (outcome,) = ingest_sessions(
        operator=operator, source=source, payloads=[payload], payload_format=payload_format
    )
    if not outcome.ok:
        raise Rejected(outcome.errors)
    return ChargingSession.objects.get(pk=outcome.session_id), outcome.status == "created"


def native(**overrides):
    record = {
        "source_id": "S-1",
        "evse_id": "DE*VWY*E000001",
        "tariff_id": "AC-1",
        "start": "2026-03-02T10:00:00+00:00",
        "end": "2026-03-02T11:30:00+00:00",
        "energy_kwh": "20.5",
        "idle_minutes": 30,
    }
    record.update(overrides)
    return record


@pytest.mark.django_db
def test_a_native_record_is_stored_priced_with_a_line_per_component(operator, evse, tariff):
    session, created = ingest_session(
        operator=operator, source="cpms", payload=native(), payload_format="native"
    )
    assert created
    assert session.energy_kwh == Decimal("20.500")
    assert session.charging_seconds == 3600
    assert session.idle_seconds == 1800
    lines = {line.component: line for line in session.charge_lines.all()}
    assert set(lines) == {"energy", "parking_time"}
    assert lines["energy"].net == Decimal("8.20")  # 20.5 kWh x 0.40
    assert lines["energy"].vat_category == "electricity"
    assert lines["parking_time"].quantity == Decimal("30.000")
    assert lines["parking_time"].net == Decimal("3.00")  # 30 min x 6.00/h
    assert session.total_net == Decimal("11.20")
    assert session.total_vat == Decimal("2.13")  # 19% of 8.20 = 1.558 -> 1.56, of 3.00 = 0.57
    assert session.total_gross == Decimal("13.33")
    assert load_json(session.tariff_snapshot.ocpi_json)["id"] == "AC-1"


@pytest.mark.django_db
def test_electricity_and_services_carry_the_operators_separate_vat_rates_without_a_tax_rule(
    operator, evse, tariff
):
    # Where the charge point's country has no tax rule, the operator's own rates apply (a
    # German charge point is taxed by the German rules: issue 17, point 1).
    evse.location.country = "US"
    evse.location.time_zone = "America/New_York"
    evse.location.save()
    operator.invoicing_settings.electricity_vat_rate = Decimal("5.00")
    operator.invoicing_settings.services_vat_rate = Decimal("20.00")
    operator.invoicing_settings.save()
    session, _ = ingest_session(
        operator=operator, source="cpms", payload=native(), payload_format="native"
    )
    rates = {line.component: line.vat_rate for line in session.charge_lines.all()}
    assert rates == {"energy": Decimal("5.00"), "parking_time": Decimal("20.00")}


@pytest.mark.django_db
def test_resending_the_same_session_changes_nothing(operator, evse, tariff):
    first, created = ingest_session(
        operator=operator, source="cpms", payload=native(), payload_format="native"
    )
    again, created_again = ingest_session(
        operator=operator,
        source="cpms",
        payload=native(energy_kwh="99"),
        payload_format="native",
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert again.energy_kwh == Decimal("20.500")
    assert json.loads(again.raw_payload)["energy_kwh"] == "20.5"
    assert ChargingSession.objects.count() == 1
    assert SessionChargeLine.objects.count() == 2


@pytest.mark.django_db
def test_the_same_source_id_from_another_source_is_another_session(operator, evse, tariff):
    ingest_session(operator=operator, source="cpms-a", payload=native(), payload_format="native")
    ingest_session(operator=operator, source="cpms-b", payload=native(), payload_format="native")
    assert ChargingSession.objects.count() == 2


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"source_id": ""}, "source_id", "required"),
        ({"start": "yesterday"}, "start", "ISO 8601"),
        ({"end": "2026-03-02T11:30:00"}, "end", "time-zone offset"),
        ({"end": "2026-03-02T09:00:00+00:00"}, "end", "end after it starts"),
        ({"energy_kwh": "-1"}, "energy_kwh", "negative"),
        ({"energy_kwh": "lots"}, "energy_kwh", "decimal number"),
        ({"idle_minutes": 600}, "idle_minutes", "idle"),
        ({"evse_id": "XX*NOPE"}, "evse_id", "Unknown EVSE"),
        ({"tariff_id": "NOPE"}, "tariff_id", "Unknown tariff"),
        ({"token_uid": "DEADBEEF"}, "token_uid", "Unknown charging token"),
        ({"customer_id": "seven"}, "customer_id", "integer"),
    ],
)
@pytest.mark.django_db
def test_a_bad_record_is_refused_with_a_field_error_and_nothing_stored(
    operator, evse, tariff, overrides, field, message
):
    with pytest.raises(Rejected) as refused:
        ingest_session(
            operator=operator, source="cpms", payload=native(**overrides), payload_format="native"
        )
    assert field in refused.value.errors
    assert message.lower() in " ".join(refused.value.errors[field]).lower()
    assert not ChargingSession.objects.exists()
    assert not Customer.objects.filter(kind=Customer.Kind.ANONYMOUS).exists()


@pytest.mark.django_db
def test_bulk_ingest_reports_each_item_and_stores_only_the_good_ones(operator, evse, tariff):
    outcomes = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[
            native(source_id="A"),
            native(source_id="B", evse_id="XX*NOPE"),
            native(source_id="A"),
            "not an object",
            native(source_id="C"),
        ],
    )
    assert [o.status for o in outcomes] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert "evse_id" in outcomes[1].errors
    assert "twice" in outcomes[2].errors["source_id"][0]
    assert set(ChargingSession.objects.values_list("source_id", flat=True)) == {"A", "C"}


@pytest.mark.django_db
def test_a_token_links_the_session_to_its_customer(operator, evse, tariff):
    token = ChargingTokenFactory(customer__operator=operator, uid="04AABBCCDD")
    session, _ = ingest_session(
        operator=operator,
        source="cpms",
        payload=native(token_uid="04AABBCCDD"),
        payload_format="native",
    )
    assert session.token == token
    assert session.customer == token.customer


@pytest.mark.django_db
def test_sessions_without_details_share_the_operators_anonymous_customer(operator, evse, tariff):
    outcomes = ingest_sessions(
        operator=operator, source="cpms", payloads=[native(source_id="A"), native(source_id="B")]
    )
    customers = set(
        ChargingSession.objects.filter(pk__in=[o.session_id for o in outcomes]).values_list(
            "customer__kind", "customer_id"
        )
    )
    assert len(customers) == 1
    assert next(iter(customers))[0] == Customer.Kind.ANONYMOUS


@pytest.mark.django_db
def test_an_ad_hoc_email_becomes_an_ad_hoc_customer_with_its_collection_time(
    operator, evse, tariff
):
    session, _ = ingest_session(
        operator=operator,
        source="terminal",
        payload=native(ad_hoc_email="walkup@example.org"),
        payload_format="native",
    )
    assert session.customer.kind == Customer.Kind.AD_HOC
    assert session.customer.email == "walkup@example.org"
    assert session.customer.email_collected_at is not None


@pytest.mark.django_db
def test_a_bad_ad_hoc_email_refuses_only_its_own_session(operator, evse, tariff):
    outcomes = ingest_sessions(
        operator=operator,
        source="terminal",
        payloads=[
            native(source_id="LONG", ad_hoc_email="a" * 250 + "@example.org"),
            native(source_id="TYPO", ad_hoc_email="walkup@"),
            native(source_id="GOOD", ad_hoc_email="walkup@example.org"),
        ],
    )

    assert [o.status for o in outcomes] == ["rejected", "rejected", "created"]
    assert "254 characters" in outcomes[0].errors["ad_hoc_email"][0]
    assert "ad_hoc_email" in outcomes[1].errors
    assert list(ChargingSession.objects.values_list("source_id", "customer__email")) == [
        ("GOOD", "walkup@example.org")
    ]


@pytest.mark.django_db
def test_a_session_keeps_the_tariff_snapshot_it_was_priced_with(operator, evse, tariff):
    session, _ = ingest_session(
        operator=operator, source="cpms", payload=native(), payload_format="native"
    )
    import_tariff(
        operator=operator,
        data={
            **DAY_TARIFF,
            "elements": [{"price_components": [{"type": "ENERGY", "price": 9, "step_size": 1}]}],
        },
    )
    reprice_session(session=session)
    session.refresh_from_db()
    assert session.total_net == Decimal("11.20")
    newest = Tariff.objects.filter(ocpi_id="AC-1").latest_versions().get()
    assert newest.ocpi_json != session.tariff_snapshot.ocpi_json


@pytest.mark.django_db
def test_an_ocpi_cdr_is_priced_against_the_named_tariff(operator):
    EVSEFactory(location__operator=operator, evse_id="NL*TST*E1")
    import_tariff(
        operator=operator, data=load_json((TESTDATA / "simple_025kwh" / "tariff.json").read_text())
    )
    cdr = load_json((TESTDATA / "simple_025kwh" / "cdr1.json").read_text())
    cdr.update(id="CDR-1", cdr_location={"country": "NLD", "evse_id": "NL*TST*E1"})
    cdr["charging_periods"][0]["tariff_id"] = "16"

    session, created = ingest_session(
        operator=operator, source="roaming", payload=cdr, payload_format="ocpi_cdr"
    )
    assert created
    assert session.payload_format == "ocpi_cdr"
    (line,) = session.charge_lines.all()
    assert (line.component, line.quantity, line.net) == (
        "energy",
        Decimal("20.000"),
        Decimal("5.00"),
    )
    assert line.vat_rate == Decimal("10.00")  # the tariff's own VAT wins over the operator's
    assert session.total_gross == Decimal("5.50")
    assert Decimal(session.ocpi_totals["total_cost"]["incl_vat"]) == Decimal("5.5")


@pytest.mark.django_db
def test_a_cdr_without_a_tariff_or_location_is_refused(operator):
    with pytest.raises(Rejected) as refused:
        ingest_session(
            operator=operator,
            source="roaming",
            payload={"id": "X", "charging_periods": []},
            payload_format="ocpi_cdr",
        )
    assert {"cdr_location.evse_id", "tariffs"} <= set(refused.value.errors)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_session_sent_twice_at_once_is_stored_once(operator, evse, tariff):
    barrier = threading.Barrier(2)
    results: list[str] = []

    def send():
        try:
            barrier.wait()
            outcome = ingest_sessions(operator=operator, source="cpms", payloads=[native()])[0]
            results.append(outcome.status)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["created", "duplicate"]
    assert ChargingSession.objects.count() == 1
    assert SessionChargeLine.objects.count() == 2


@pytest.mark.django_db
def test_import_sessions_command_reports_counts_and_fails_on_rejects(
    operator, evse, tariff, tmp_path
):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([native(source_id="A"), native(source_id="B")]))
    out = StringIO()
    call_command("import_sessions", str(good), stdout=out, stderr=StringIO())
    assert "2 created" in out.getvalue()

    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([native(source_id="A"), native(source_id="C", evse_id="X")]))
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 session"):
        call_command("import_sessions", str(mixed), stdout=out, stderr=err)
    assert "1 already stored" in out.getvalue()
    assert "Unknown EVSE" in err.getvalue()

    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_sessions", str(broken))


@pytest.mark.django_db
def test_session_vat_is_computed_per_rate_on_the_summed_nets(operator, evse):
    import_tariff(
        operator=operator,
        data={
            "id": "ODD",
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [
                        {"type": "ENERGY", "price": Decimal("0.26"), "step_size": 1}
                    ]
                },
                {
                    "price_components": [
                        {"type": "PARKING_TIME", "price": Decimal("17.40"), "step_size": 1}
                    ]
                },
            ],
        },
    )
    session, _ = ingest_session(
        operator=operator,
        source="cpms",
        payload=native(tariff_id="ODD", energy_kwh="1", idle_minutes=1),
        payload_format="native",
    )
    lines = list(session.charge_lines.all())
    # Each line rounds its own VAT up (0.0494 -> 0.05, 0.0551 -> 0.06) ...
    assert [line.vat for line in lines] == [Decimal("0.05"), Decimal("0.06")]
    # ... but the session, like an invoice, takes 19 % of the 0.55 net once: 0.1045 -> 0.10.
    assert session.total_net == Decimal("0.55")
    assert session.total_vat == Decimal("0.10")
    assert session.total_gross == Decimal("0.65")


# --- native records across tariff boundaries ---------------------------------------------------

DAY_NIGHT_TARIFF = {
    "id": "DN-1",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": Decimal("0.60"), "step_size": 1}],
            "restrictions": {"start_time": "07:00", "end_time": "22:00"},
        },
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]},
    ],
}


@pytest.fixture
def day_night(operator):
    return import_tariff(operator=operator, data=DAY_NIGHT_TARIFF)


def energy_lines(session):
    return [
        (line.unit_price, line.quantity, line.net)
        for line in session.charge_lines.order_by("position")
        if line.component == "energy"
    ]


@pytest.mark.django_db
def test_a_native_session_across_22_00_local_is_priced_at_the_day_and_the_night_rate(
    operator, evse, day_night
):
    # The EVSE is in Europe/Berlin: 21:00-23:00 local in January is 20:00-22:00 UTC.
    session, _ = ingest_session(
        operator=operator,
        source="cpms",
        payload=native(
            tariff_id="DN-1",
            start="2026-01-15T21:00:00+01:00",
            end="2026-01-15T23:00:00+01:00",
            energy_kwh="20",
            idle_minutes=0,
        ),
        payload_format="native",
    )
    assert energy_lines(session) == [
        (Decimal("0.600000"), Decimal("10.000"), Decimal("6.00")),
        (Decimal("0.400000"), Decimal("10.000"), Decimal("4.00")),
    ]
    assert session.total_net == Decimal("10.00")
    assert session.energy_kwh == Decimal("20.000")
    assert session.charging_seconds == 7200
    # The stored periods are the pieces that were priced, so repricing gives the same total.
    assert [p["start"] for p in session.charging_periods] == [
        "2026-01-15T20:00:00+00:00",
        "2026-01-15T21:00:00+00:00",
    ]
    reprice_session(session=session)
    session.refresh_from_db()
    assert session.total_net == Decimal("10.00")


@pytest.mark.django_db
def test_a_native_session_entirely_in_the_day_is_priced_as_one_period(operator, evse, day_night):
    session, _ = ingest_session(
        operator=operator,
        source="cpms",
        payload=native(
            tariff_id="DN-1",
            start="2026-01-15T10:00:00+01:00",
            end="2026-01-15T12:00:00+01:00",
            energy_kwh="20",
            idle_minutes=0,
        ),
        payload_format="native",
    )
    assert energy_lines(session) == [(Decimal("0.600000"), Decimal("20.000"), Decimal("12.00"))]
    assert session.total_net == Decimal("12.00")
    assert len(session.charging_periods) == 1


@pytest.mark.django_db
def test_an_ocpi_cdr_is_not_split_its_periods_are_what_the_cpms_measured(operator, evse, day_night):
    cdr = {
        "id": "CDR-DN",
        "start_date_time": "2026-01-15T20:00:00Z",
        "end_date_time": "2026-01-15T22:00:00Z",
        "currency": "EUR",
        "cdr_location": {"evse_id": "DE*VWY*E000001"},
        "charging_periods": [
            {
                "start_date_time": "2026-01-15T20:00:00Z",
                "tariff_id": "DN-1",
                "dimensions": [{"type": "ENERGY", "volume": 20}],
            }
        ],
    }
    session, _ = ingest_session(
        operator=operator, source="roaming", payload=cdr, payload_format="ocpi_cdr"
    )
    # One period starting at 21:00 local: all of it at the day rate, as the CDR says.
    assert energy_lines(session) == [(Decimal("0.600000"), Decimal("20.000"), Decimal("12.00"))]
    assert len(session.charging_periods) == 1


@pytest.mark.django_db
def test_sessions_priced_with_the_same_tariff_share_one_stored_snapshot(operator, evse, tariff):
    ingest_sessions(
        operator=operator, source="cpms", payloads=[native(source_id=f"S{n}") for n in range(5)]
    )
    assert TariffSnapshot.objects.count() == 1
    # A new version valid from before the next session's start prices that session.
    new_version = {**DAY_TARIFF, "currency": "CHF", "start_date_time": "2026-03-01T00:00:00Z"}
    import_tariff(operator=operator, data=new_version)
    ingest_sessions(operator=operator, source="cpms", payloads=[native(source_id="S9")])
    assert TariffSnapshot.objects.count() == 2
    assert ChargingSession.objects.get(source_id="S9").tariff_snapshot.ocpi_json != (
        ChargingSession.objects.get(source_id="S0").tariff_snapshot.ocpi_json
    )
