"""Price an OCPI 2.2.1 CDR against a tariff and print the OCPI totals with the breakdown."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions.pricing import PricingError, VatRates, parse_cdr, parse_tariff, price_session


class Command(BaseCommand):
    help = (
        "Price an OCPI 2.2.1 CDR's charging periods against a tariff and print the totals and "
        "the per-component breakdown as JSON. Restrictions are evaluated in --time-zone "
        "(default UTC). Components without their own VAT use --electricity-vat (ENERGY) and "
        "--services-vat (everything else), both 0 unless given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tariff", required=True, help="Path to an OCPI 2.2.1 Tariff JSON.")
        parser.add_argument("--cdr", required=True, help="Path to an OCPI 2.2.1 CDR JSON.")
        parser.add_argument(
            "--time-zone",
            default="UTC",
            help="IANA time zone of the location, e.g. Europe/Berlin (default: UTC).",
        )
        parser.add_argument(
            "--electricity-vat",
            default="0",
            help="VAT %% for ENERGY components that carry no vat of their own (default: 0).",
        )
        parser.add_argument(
            "--services-vat",
            default="0",
            help="VAT %% for TIME, PARKING_TIME and FLAT components without vat (default: 0).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tariff_data = _read_json(options["tariff"], "tariff")
        cdr_data = _read_json(options["cdr"], "CDR")
        vat_rates = VatRates(
            electricity=_percent(options["electricity_vat"], "--electricity-vat"),
            services=_percent(options["services_vat"], "--services-vat"),
        )
        try:
            tariff = parse_tariff(tariff_data)
        except PricingError as exc:
            raise CommandError(f"The tariff in {options['tariff']} is invalid: {exc}.") from exc
        try:
            cdr = parse_cdr(cdr_data)
        except PricingError as exc:
            raise CommandError(f"The CDR in {options['cdr']} is invalid: {exc}.") from exc
        if cdr.currency is not None and cdr.currency != tariff.currency:
            raise CommandError(
                f"The CDR is in {cdr.currency} but the tariff is in {tariff.currency}; "
                "price it with a tariff in the same currency."
            )
        try:
            priced = price_session(
                tariff=tariff,
                periods=cdr.periods,
                start=cdr.start,
                end=cdr.end,
                time_zone=options["time_zone"],
                vat_rates=vat_rates,
            )
        except PricingError as exc:
            raise CommandError(f"The session cannot be priced: {exc}.") from exc
        self.stdout.write(json.dumps(priced.to_ocpi_json(), indent=2))


def _read_json(path: str, what: str) -> dict[str, Any]:
    """Read a JSON file with exact decimals; a missing or malformed file is a CommandError."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CommandError(f"The {what} file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"The {what} file {path} cannot be read: {exc}.") from exc
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"The {what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise CommandError(f"The {what} file {path} is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise CommandError(f"The {what} file {path} must contain a JSON object.")
    return data


def _percent(value: str, option: str) -> Decimal:
    """A VAT rate in percent, 0 to 100."""
    try:
        rate = Decimal(value)
    except InvalidOperation as exc:
        raise CommandError(f"{option} must be a percentage such as 19, got {value!r}.") from exc
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise CommandError(f"{option} must be a percentage between 0 and 100, got {value!r}.")
    return rate
