"""The price_cdr management command (no database needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[3]

STEP_TARIFF = {
    "id": "22",
    "currency": "EUR",
    "elements": [
        {
            "price_components": [
                {"type": "TIME", "price": 1.20, "step_size": 1800},
                {"type": "PARKING_TIME", "price": 1.00, "step_size": 900},
            ],
            "restrictions": {"start_time": "00:00", "end_time": "17:00"},
        },
        {
            "price_components": [
                {"type": "TIME", "price": 2.40, "step_size": 900},
                {"type": "PARKING_TIME", "price": 1.00, "step_size": 900},
            ],
            "restrictions": {"start_time": "17:00", "end_time": "20:00"},
        },
    ],
}
STEP_CDR = {
    "start_date_time": "2022-01-13T16:55:00Z",
    "end_date_time": "2022-01-13T17:07:00Z",
    "currency": "EUR",
    "charging_periods": [
        {
            "start_date_time": "2022-01-13T16:55:00Z",
            "dimensions": [{"type": "TIME", "volume": 0.0834}],
        },
        {
            "start_date_time": "2022-01-13T17:00:00Z",
            "dimensions": [{"type": "TIME", "volume": 0.0834}],
        },
        {
            "start_date_time": "2022-01-13T17:02:00Z",
            "dimensions": [{"type": "PARKING_TIME", "volume": 0.0334}],
        },
    ],
}


@pytest.fixture
def files(tmp_path: Path):
    tariff = tmp_path / "tariff.json"
    cdr = tmp_path / "cdr.json"
    tariff.write_text(json.dumps(STEP_TARIFF))
    cdr.write_text(json.dumps(STEP_CDR))
    return tariff, cdr


def run(*args: str) -> dict:
    out = StringIO()
    call_command("price_cdr", *args, stdout=out)
    return json.loads(out.getvalue(), parse_float=Decimal)


def test_price_cdr_prints_the_ocpi_totals_and_lines_as_json(files):
    tariff, cdr = files
    result = run("--tariff", str(tariff), "--cdr", str(cdr))
    assert result["total_cost"] == {"excl_vat": "0.5502", "incl_vat": "0.5502"}
    assert result["total_time_cost"] == {"excl_vat": "0.3002", "incl_vat": "0.3002"}
    assert result["total_parking_time"] == "0.0334"
    assert [line["component"] for line in result["lines"]] == [
        "charging_time",
        "charging_time",
        "parking_time",
    ]
    assert result["lines"][2]["quantity"] == "15.00"


def test_price_cdr_prints_indented_json(files):
    tariff, cdr = files
    out = StringIO()
    call_command("price_cdr", "--tariff", str(tariff), "--cdr", str(cdr), stdout=out)
    assert out.getvalue().startswith('{\n  "total_cost": {\n    "excl_vat": ')


def test_price_cdr_evaluates_restrictions_in_the_given_time_zone(files):
    tariff, cdr = files
    # 16:55 UTC is 17:55 in Berlin: both charging periods get the 2.40/h evening price.
    result = run("--tariff", str(tariff), "--cdr", str(cdr), "--time-zone", "Europe/Berlin")
    assert result["total_time_cost"] == {"excl_vat": "0.4003", "incl_vat": "0.4003"}


def test_price_cdr_applies_the_operator_vat_rates_to_components_without_vat(files):
    tariff, cdr = files
    result = run(
        "--tariff", str(tariff), "--cdr", str(cdr), "--electricity-vat", "7", "--services-vat", "19"
    )
    assert result["total_time_cost"]["incl_vat"] == "0.3573"  # 0.30024 x 1.19
    assert {line["vat_rate"] for line in result["lines"]} == {"19"}


def test_price_cdr_refuses_a_missing_file(files):
    _, cdr = files
    with pytest.raises(
        CommandError, match=r"^The tariff file /no/such/tariff.json does not exist\.$"
    ):
        run("--tariff", "/no/such/tariff.json", "--cdr", str(cdr))


def test_price_cdr_refuses_a_file_that_is_not_json(files, tmp_path):
    tariff, _ = files
    broken = tmp_path / "broken.json"
    broken.write_text('{"start_date_time": ')
    with pytest.raises(CommandError, match=r"^The CDR file .*broken\.json is not valid JSON: "):
        run("--tariff", str(tariff), "--cdr", str(broken))


def test_price_cdr_refuses_an_invalid_tariff_naming_the_json_path(files, tmp_path):
    _, cdr = files
    bad = tmp_path / "bad.json"
    data = json.loads(json.dumps(STEP_TARIFF))
    data["elements"][0]["price_components"][1]["step_size"] = -5
    bad.write_text(json.dumps(data))
    with pytest.raises(
        CommandError,
        match=r"is invalid: elements\[0\]\.price_components\[1\]\.step_size: "
        r"must be a non-negative integer",
    ):
        run("--tariff", str(bad), "--cdr", str(cdr))


def test_price_cdr_refuses_an_unknown_time_zone(files):
    tariff, cdr = files
    with pytest.raises(CommandError, match="'Europe/Atlantis' is not a known IANA time zone"):
        run("--tariff", str(tariff), "--cdr", str(cdr), "--time-zone", "Europe/Atlantis")


def test_price_cdr_refuses_a_vat_rate_that_is_not_a_percentage(files):
    tariff, cdr = files
    with pytest.raises(CommandError, match="--services-vat must be a percentage"):
        run("--tariff", str(tariff), "--cdr", str(cdr), "--services-vat", "nineteen")


def test_price_cdr_refuses_a_cdr_in_another_currency(files, tmp_path):
    tariff, _ = files
    other = tmp_path / "usd.json"
    other.write_text(json.dumps({**STEP_CDR, "currency": "USD"}))
    with pytest.raises(CommandError, match="The CDR is in USD but the tariff is in EUR"):
        run("--tariff", str(tariff), "--cdr", str(other))


def test_price_cdr_exits_non_zero_with_the_sentence_on_stderr(files):
    _, cdr = files
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "tests.settings"),
    }
    completed = subprocess.run(
        [sys.executable, "manage.py", "price_cdr", "--tariff", "/no/such.json", "--cdr", str(cdr)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert "The tariff file /no/such.json does not exist." in completed.stderr
