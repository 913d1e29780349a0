"""Inputs that drive work are bounded (sessions/pricing/limits.py) and refused before pricing.

One tariff, CDR or native record beyond a limit is refused with a message naming the field and
the limit, in the tariff parser, the CDR parser, the ingest, the tariff import and the commands;
the worst input within the limits prices in a bounded number of steps and lines.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from sessions.models import ChargingSession, Tariff
from sessions.pricing import (
    CdrError,
    TariffError,
    VatRates,
    limits,
    parse_cdr,
    parse_tariff,
    periods_from_native,
    price_session,
    split_periods_at_tariff_boundaries,
)
from sessions.services import TariffImportError, import_tariff, ingest_sessions
from tests.factories import EVSEFactory

D = Decimal
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
START = datetime(2026, 3, 1, tzinfo=UTC)


def component(kind="ENERGY", price="0.40", step=1):
    return {"type": kind, "price": D(price), "step_size": step}


def tariff_json(elements=None, **extra):
    return {
        "id": "T-1",
        "currency": "EUR",
        "elements": elements or [{"price_components": [component()]}],
        **extra,
    }


def cdr_json(periods=1, start=START, end=None, **extra):
    end = end or start + timedelta(hours=1)
    step = (end - start) / periods
    return {
        "id": "CDR-1",
        "start_date_time": start.isoformat(),
        "end_date_time": end.isoformat(),
        "cdr_location": {"evse_id": "DE*VWY*E000001"},
        "tariffs": [tariff_json()],
        "charging_periods": [
            {
                "start_date_time": (start + step * i).isoformat(),
                "dimensions": [{"type": "ENERGY", "volume": D("0.5")}],
            }
            for i in range(periods)
        ],
        **extra,
    }


def worst_tariff() -> dict:
    """As many elements, components and restriction boundaries as the limits allow."""
    elements = []
    for i in range(limits.MAX_TARIFF_ELEMENTS - 1):
        slot = i % limits.MAX_TIMES_OF_DAY  # one distinct time of day per element (half hours)
        minutes = slot * 24 * 60 // limits.MAX_TIMES_OF_DAY
        components = [
            component(kind, price=D("0.1") + D(i) / 1000, step=60)
            for kind in ("ENERGY", "TIME", "PARKING_TIME", "FLAT")
        ]
        components += [component()] * (limits.MAX_PRICE_COMPONENTS - len(components))
        restrictions = {
            "start_time": f"{minutes // 60:02d}:{minutes % 60:02d}",
            "day_of_week": list(DAYS[: 1 + i % 7]),
            "min_kwh": D(i),
            "max_kwh": limits.MAX_SESSION_ENERGY_KWH - i,
            "min_duration": i * 600,
            "max_duration": int(limits.MAX_SESSION_DURATION.total_seconds()) - i,
            "start_date": "2020-01-01",
            "end_date": "2090-01-01",
            "max_power": D(5000),
        }
        elements.append({"price_components": components, "restrictions": restrictions})
    fallback = [component(kind, "0.30", 60) for kind in ("ENERGY", "TIME", "PARKING_TIME", "FLAT")]
    elements.append({"price_components": fallback})
    return tariff_json(elements)


# --- refused early, naming the limit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tariff", "path"),
    [
        (
            tariff_json([{"price_components": [component()]}] * (limits.MAX_TARIFF_ELEMENTS + 1)),
            "elements: at most 100 tariff elements (limit), got 101",
        ),
        (
            tariff_json([{"price_components": [component()] * (limits.MAX_PRICE_COMPONENTS + 1)}]),
            "elements[0].price_components: at most 10 price components (limit)",
        ),
        (
            tariff_json(
                [
                    {
                        "price_components": [component()],
                        "restrictions": {"start_time": f"{h:02d}:{m:02d}"},
                    }
                    for h in range(24)
                    for m in (0, 20, 40)
                ]
            ),
            "elements: at most 48 different start_time/end_time values (limit), got 72",
        ),
    ],
    ids=["elements", "price_components", "times_of_day"],
)
def test_a_tariff_beyond_a_count_limit_is_refused_naming_it(tariff, path):
    with pytest.raises(TariffError, match=re.escape(path)):
        parse_tariff(tariff)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(price=D("1E+400")), "price: must be at most 1000000 (limit)"),
        (lambda c: c.update(price=D("-0.01")), "price: must be at least 0"),
        (lambda c: c.update(step_size=10**15), "step_size: must be at most 86400 (limit)"),
        (lambda c: c.update(step_size=D("1E+400")), "step_size: must be at most 86400"),
        (lambda c: c.update(vat=D("1E+400")), "vat: must be a percentage between 0 and 100"),
    ],
    ids=["price_1e400", "negative_price", "step_size_1e15", "step_size_1e400", "vat_1e400"],
)
def test_a_poison_price_component_is_refused_with_its_path(change, message):
    data = tariff_json()
    change(data["elements"][0]["price_components"][0])

    with pytest.raises(TariffError) as refused:
        parse_tariff(data)

    assert str(refused.value).startswith("elements[0].price_components[0].")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("restrictions", "message"),
    [
        ({"min_duration": 10**15}, "min_duration: must be at most 2678400 (seconds) (limit)"),
        ({"max_duration": D("1E+400")}, "max_duration: must be at most 2678400"),
        ({"max_power": D("1E+9")}, "max_power: must be at most 10000 (limit)"),
        ({"min_current": D("1E+400")}, "min_current: must be at most 10000 (limit)"),
        ({"max_kwh": D(10**7)}, "max_kwh: must be at most 100000 (limit)"),
    ],
)
def test_a_poison_restriction_is_refused_with_its_path(restrictions, message):
    data = tariff_json([{"price_components": [component()], "restrictions": restrictions}])

    with pytest.raises(TariffError, match=r"^elements\[0\]\.restrictions\.") as refused:
        parse_tariff(data)

    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"min_price": {"excl_vat": D("1E+400")}}, "min_price.excl_vat: must be at most"),
        ({"max_price": {"excl_vat": D(10**7)}}, "max_price.excl_vat: must be at most 1000000"),
        ({"end_date_time": "9999-12-31T23:30:00-01:00"}, "end_date_time: '9999-12-31T23:30"),
        ({"start_date_time": "0001-01-01T00:30:00+01:00"}, "outside the years 1 to 9999"),
    ],
)
def test_poison_tariff_prices_and_times_are_refused(extra, message):
    with pytest.raises(TariffError, match=re.escape(message)):
        parse_tariff(tariff_json(**extra))


def test_step_size_zero_means_no_rounding_and_prices(operator):
    """OCPI allows 0 (the reference calculator rounds nothing); it breaks nothing."""
    tariff = parse_tariff(tariff_json([{"price_components": [component("TIME", "6.00", 0)]}]))
    end = START + timedelta(minutes=7)
    periods = periods_from_native(start=START, end=end, energy_kwh=D(1), idle_minutes=D(0))

    priced = price_session(
        tariff=tariff, periods=periods, start=START, end=end, vat_rates=VatRates(D(19), D(19))
    )

    assert priced.totals.total_time_cost.excl_vat == D("0.7000000000")


def test_a_cdr_beyond_the_period_or_duration_limit_is_refused_before_pricing():
    with pytest.raises(CdrError, match=r"^charging_periods: at most 1000 charging periods"):
        parse_cdr(cdr_json(periods=limits.MAX_CHARGING_PERIODS + 1))
    with pytest.raises(CdrError, match=r"^end_date_time: a session lasts at most 31 days"):
        parse_cdr(cdr_json(end=START + limits.MAX_SESSION_DURATION + timedelta(seconds=1)))
    with pytest.raises(CdrError, match=r"^start_date_time: .* outside the years 2000 to 2099"):
        parse_cdr(cdr_json(start=datetime(1970, 1, 1, tzinfo=UTC)))
    with pytest.raises(CdrError, match=r"volume: must be at most 100000 \(limit\)"):
        cdr = cdr_json()
        cdr["charging_periods"][0]["dimensions"][0]["volume"] = D("1E+400")
        parse_cdr(cdr)


def test_a_native_session_of_a_thousand_years_is_refused_at_once():
    begun = time.perf_counter()
    with pytest.raises(CdrError, match=r"^end: a session lasts at most 31 days"):
        periods_from_native(
            start=START,
            end=START.replace(year=2099),
            energy_kwh=D(10),
            idle_minutes=D(0),
        )
    assert time.perf_counter() - begun < 0.1


# --- the worst legal input is cheap --------------------------------------------------------------


def test_the_worst_input_within_the_limits_prices_in_bounded_steps_and_lines():
    tariff = parse_tariff(worst_tariff())
    end = START + limits.MAX_SESSION_DURATION
    vat = VatRates(D(19), D(7))
    begun = time.perf_counter()

    native = periods_from_native(
        start=START, end=end, energy_kwh=D(99_999), idle_minutes=D(60 * 24 * 10)
    )
    pieces = split_periods_at_tariff_boundaries(
        native, tariff=tariff, start=START, end=end, time_zone="Europe/Berlin"
    )
    priced_native = price_session(
        tariff=tariff,
        periods=pieces,
        start=START,
        end=end,
        time_zone="Europe/Berlin",
        vat_rates=vat,
    )
    cdr = parse_cdr(cdr_json(periods=limits.MAX_CHARGING_PERIODS, end=end))
    priced_cdr = price_session(
        tariff=tariff,
        periods=cdr.periods,
        start=cdr.start,
        end=cdr.end,
        time_zone="Europe/Berlin",
        vat_rates=vat,
    )
    elapsed = time.perf_counter() - begun

    # One cut per restriction time of day and midnight each day, two per duration restriction
    # and kWh threshold, and the daylight-saving switch: the splitting is bounded by the limits.
    days = limits.MAX_SESSION_DURATION.days + 1
    bound = (limits.MAX_TIMES_OF_DAY + 1) * days + 4 * limits.MAX_TARIFF_ELEMENTS + 4
    assert limits.MAX_TIMES_OF_DAY * limits.MAX_SESSION_DURATION.days < len(pieces) <= bound
    # At most one line per element and price type, plus a price adjustment.
    for priced in (priced_native, priced_cdr):
        assert 0 < len(priced.lines) <= 4 * limits.MAX_TARIFF_ELEMENTS + 1
    # About 0.4 s on a 2-core machine; generous for a loaded CI runner.
    assert elapsed < 3, f"the worst legal input took {elapsed:.2f} s to price"


def test_a_session_costing_more_than_the_limit_is_refused_not_stored_as_garbage():
    tariff = parse_tariff(tariff_json([{"price_components": [component(price="1000000")]}]))
    periods = periods_from_native(
        start=START, end=START + timedelta(hours=5), energy_kwh=D(90_000), idle_minutes=D(0)
    )

    with pytest.raises(Exception, match=r"^total_cost: .* more than the 1000000000"):
        price_session(
            tariff=tariff,
            periods=periods,
            start=START,
            end=START + timedelta(hours=5),
            vat_rates=VatRates(D(19), D(19)),
        )


# --- the doors that share the parsers ------------------------------------------------------------


def test_import_tariff_refuses_a_poison_tariff_and_stores_nothing(operator):
    text = json.dumps(tariff_json(), default=str).replace('"step_size": 1', '"step_size": 1e400')

    with pytest.raises(
        TariffImportError, match=r"price_components\[0\]\.step_size: Must be a number below 10\^15"
    ):
        import_tariff(operator=operator, data=text)
    with pytest.raises(TariffImportError, match=r"^elements: at most 100 tariff elements"):
        import_tariff(
            operator=operator,
            data=tariff_json([{"price_components": [component()]}] * 10_001),
        )
    with pytest.raises(TariffImportError, match=r"^id: Must be text: it holds a lone UTF-16"):
        import_tariff(operator=operator, data=tariff_json(id="\ud800"))
    with pytest.raises(TariffImportError, match="not valid JSON"):
        import_tariff(operator=operator, data="[" * 100_000 + "]" * 100_000)
    assert not Tariff.objects.exists()


def test_import_sessions_reports_items_beyond_the_limits_and_stores_the_others(operator, tmp_path):
    EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")
    import_tariff(operator=operator, data=tariff_json())
    good = {
        "source_id": "S-1",
        "evse_id": "DE*VWY*E000001",
        "tariff_id": "T-1",
        "start": "2026-03-02T10:00:00+01:00",
        "end": "2026-03-02T11:00:00+01:00",
        "energy_kwh": "10",
    }
    items = [
        good,
        {**good, "source_id": "S-2", "end": "3026-03-02T11:00:00+01:00"},
        {**good, "source_id": "S-3", "start": "2026-02-30T10:00:00+01:00"},
        {**good, "source_id": "S-4", "energy_kwh": "1e400"},
    ]
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps(items).replace('"1e400"', "1e400"))
    err = StringIO()

    with pytest.raises(CommandError, match="3 session"):
        call_command("import_sessions", str(path), stdout=StringIO(), stderr=err)

    assert list(ChargingSession.objects.values_list("source_id", flat=True)) == ["S-1"]
    assert "Item 1 (S-2): end: Must be a date-time within the years 2000 to 2099" in (
        err.getvalue()
    )
    assert "Item 2 (S-3): start: Must be an ISO 8601 date-time" in err.getvalue()
    assert "Item 3 (S-4): energy_kwh: Must be a number below 10^15" in err.getvalue()


def test_price_cdr_refuses_a_cdr_beyond_the_limits(tmp_path):
    tariff = tmp_path / "tariff.json"
    tariff.write_text(json.dumps(tariff_json(), default=str).replace('"0.40"', "0.40"))
    cdr = tmp_path / "cdr.json"
    cdr.write_text(json.dumps(cdr_json(periods=1001), default=str))

    with pytest.raises(CommandError, match="at most 1000 charging periods"):
        call_command("price_cdr", tariff=str(tariff), cdr=str(cdr), stdout=StringIO())


def test_a_thousand_year_native_session_is_refused_by_the_ingest_at_once(operator):
    EVSEFactory(location__operator=operator, evse_id="DE*VWY*E000001")
    import_tariff(operator=operator, data=tariff_json())
    begun = time.perf_counter()

    (outcome,) = ingest_sessions(
        operator=operator,
        source="cpms",
        payloads=[
            {
                "source_id": "LONG",
                "evse_id": "DE*VWY*E000001",
                "tariff_id": "T-1",
                "start": "2026-03-02T10:00:00Z",
                "end": "2099-03-02T10:00:00Z",
                "energy_kwh": "10",
            }
        ],
    )

    assert outcome.errors == {"end": ["A session lasts at most 31 days (limit)."]}
    assert time.perf_counter() - begun < 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            json.dumps(tariff_json([{"price_components": [component()]}] * 101), default=str),
            "elements: at most 100 tariff elements (limit), got 101",
        ),
        (
            json.dumps(tariff_json(), default=str).replace('"0.40"', "1e400"),
            "elements[0].price_components[0].price: Must be a number below 10^15",
        ),
        (
            json.dumps(
                tariff_json([{"price_components": [component()], "restrictions": {"x": 1}}]),
                default=str,
            ).replace('"x": 1', '"min_duration": 1000000000000000'),
            "elements[0].restrictions.min_duration: Must be a number below 10^15",
        ),
        ("[" * 100_000 + "]" * 100_000, "The tariff is not valid JSON"),
    ],
    ids=["101_elements", "price_1e400", "min_duration_1e15", "nested_100000_deep"],
)
def test_the_admin_tariff_import_refuses_what_the_limits_refuse(
    admin_client, operator, text, message
):
    response = admin_client.post(
        reverse("admin:charging_tariff_add"), {"operator": operator.pk, "ocpi_json_text": text}
    )

    assert response.status_code == 200
    (error,) = response.context["adminform"].form.errors["ocpi_json_text"]
    assert error.startswith(message)
    assert not Tariff.objects.exists()
