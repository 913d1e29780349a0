"""The README's commands work as written on the laptop set-up (after `make run`)."""

from __future__ import annotations

import json
import re
import shlex
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from invoicing.models import ExchangeRate

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> dict[str, list[str]]:
    """Each `.venv/bin/python manage.py …` line of the README, by command, as argv."""
    commands = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\.venv/bin/python manage\.py (.*)", line):
            argv = shlex.split(match.group(1), comments=True)
            commands[argv[0]] = argv[1:]
    return commands


def test_every_file_the_readme_names_is_shipped():
    commands = readme_commands()
    assert {"price_cdr", "import_exchange_rates", "run_billing", "export"} <= set(commands)
    for argv in commands.values():
        for arg in argv:
            if arg.startswith("docs/"):
                assert (ROOT / arg).is_file(), arg
            assert not arg.startswith(("http://", "https://")), "no command reaches the internet"


def test_the_readmes_price_cdr_prices_the_sample_session(monkeypatch):
    monkeypatch.chdir(ROOT)
    out = StringIO()
    call_command("price_cdr", *readme_commands()["price_cdr"], stdout=out)
    priced = json.loads(out.getvalue())
    # Berlin's clock (22:31 CEST): 49.6 kWh at the night rate of 0.55, the 1.00 connection fee
    # and 16 idle minutes at 12.00/h in 5-minute steps (20 minutes).
    assert priced["total_energy"] == "49.6000"
    assert priced["total_cost"]["excl_vat"] == "32.2800"


@pytest.mark.django_db
def test_the_readmes_import_exchange_rates_loads_the_sample_rates(monkeypatch):
    monkeypatch.chdir(ROOT)
    out = StringIO()
    call_command("import_exchange_rates", *readme_commands()["import_exchange_rates"], stdout=out)
    assert "Imported 1 day(s) of rates: 6 new" in out.getvalue()
    assert ExchangeRate.objects.get(currency="CHF").rate == Decimal("0.9355")
