"""Conformance: the engine reproduces every priced case of the ocpi-tariffs reference suite.

Every dimension is compared, as the reference implementation does: costs quantised to 4
decimals (half up), quantities exactly; a missing expected field means 0.
"""

from __future__ import annotations

import json
import os
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from cpo_portal.kernel.money import round_money
from sessions.pricing import VatRates, parse_cdr, parse_tariff, price_session

REPO = Path(__file__).resolve().parents[3]
MISSING_MESSAGE = (
    "The OCPI tariff test data is missing: set OCPI_TESTDATA_DIR to the ocpi-tariffs-testdata "
    "folder or place it at {path}. CI provides it; the conformance suite must not be skipped."
)


def locate_testdata() -> Path:
    """OCPI_TESTDATA_DIR, else the shared data folder beside the repository."""
    configured = os.environ.get("OCPI_TESTDATA_DIR")
    if configured:
        return Path(configured)
    return REPO.parent / "shared" / "data" / "ocpi-tariffs-testdata"


DATA = locate_testdata()
CDR_FILES = sorted(DATA.glob("*/cdr*.json")) if DATA.is_dir() else []
TARIFF_FILES = sorted(DATA.glob("*/tariff.json")) if DATA.is_dir() else []
# Without data the parametrised tests get one failing case instead of being skipped as empty.
MISSING = [pytest.param(None, id="testdata-missing")]
FOUR_PLACES = Decimal("0.0001")
NO_OPERATOR_VAT = VatRates(electricity=Decimal("0"), services=Decimal("0"))
COST_FIELDS = (
    "total_cost",
    "total_fixed_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_reservation_cost",
)
QUANTITY_FIELDS = ("total_energy", "total_time", "total_parking_time")

# The reference calculator's version that produced this file did not apply min_price; under
# OCPI 2.2.1 the total is raised to min_price while the energy cost stays as computed.
KNOWN_DEVIATIONS = {
    "025kwh_min_price/cdr2_less_than_2kWh.json": {
        "total_cost": {"excl_vat": Decimal("0.50"), "incl_vat": Decimal("0.55")},
        "total_energy_cost": {"excl_vat": Decimal("0.30"), "incl_vat": Decimal("0.33")},
    }
}


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def require(path: Path | None) -> Path:
    if path is None:
        pytest.fail(MISSING_MESSAGE.format(path=DATA))
    return path


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def four(value: object) -> Decimal:
    return Decimal(value).quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def expected_cost(cdr: dict, name: str) -> tuple[Decimal, Decimal]:
    price = cdr.get(name) or {"excl_vat": 0, "incl_vat": 0}
    excl = price["excl_vat"]
    return four(excl), four(price.get("incl_vat", excl))


def priced(cdr_path: Path):
    tariff = parse_tariff(load(cdr_path.parent / "tariff.json"))
    cdr = parse_cdr(load(cdr_path))
    # The reference prices in UTC; the test tariffs give VAT per component where they have any.
    return price_session(
        tariff=tariff,
        periods=cdr.periods,
        start=cdr.start,
        end=cdr.end,
        time_zone="UTC",
        vat_rates=NO_OPERATOR_VAT,
    )


def test_the_reference_test_data_is_present():
    assert DATA.is_dir(), MISSING_MESSAGE.format(path=DATA)
    assert CDR_FILES, f"No cdr*.json files under {DATA}; the conformance suite would be empty."
    assert TARIFF_FILES, f"No tariff.json files under {DATA}."


@pytest.mark.parametrize("cdr_path", CDR_FILES or MISSING, ids=case_id)
def test_every_dimension_matches_the_reference_result(cdr_path: Path | None):
    cdr_path = require(cdr_path)
    expected = load(cdr_path)
    expected.update(KNOWN_DEVIATIONS.get(case_id(cdr_path), {}))
    totals = priced(cdr_path).totals

    for name in COST_FIELDS:
        price = getattr(totals, name)
        assert (four(price.excl_vat), four(price.incl_vat)) == expected_cost(expected, name), name
    for name in QUANTITY_FIELDS:
        assert getattr(totals, name) == Decimal(expected.get(name, 0)), name


@pytest.mark.parametrize("cdr_path", CDR_FILES or MISSING, ids=case_id)
def test_breakdown_lines_sum_to_the_session_total_in_cents(cdr_path: Path | None):
    session = priced(require(cdr_path))
    assert sum(line.net for line in session.lines) == round_money(
        session.totals.total_cost.excl_vat
    )


def test_min_price_deviation_raises_the_total_but_not_the_energy_cost():
    require(DATA if DATA.is_dir() else None)
    path = DATA / "025kwh_min_price" / "cdr2_less_than_2kWh.json"
    assert load(path)["total_cost"] == {"excl_vat": Decimal("0.3"), "incl_vat": Decimal("0.33")}

    session = priced(path)

    assert session.totals.total_cost.excl_vat == Decimal("0.50")
    assert session.totals.total_cost.incl_vat == Decimal("0.55")
    assert session.totals.total_energy_cost.excl_vat == Decimal("0.300")
    assert four(session.totals.total_energy_cost.incl_vat) == Decimal("0.33")
    adjustment = [line for line in session.lines if line.component == "price_adjustment"]
    assert [(line.quantity, line.unit, line.net) for line in adjustment] == [
        (Decimal(1), "package", Decimal("0.20"))
    ]


@pytest.mark.parametrize("tariff_path", TARIFF_FILES or MISSING, ids=case_id)
def test_every_example_tariff_parses(tariff_path: Path | None):
    data = load(require(tariff_path))
    tariff = parse_tariff(data)
    assert tariff.id == data["id"]
    assert len(tariff.elements) == len(data["elements"])
