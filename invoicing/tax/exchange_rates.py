"""Importing the ECB's euro reference rates (eurofxref-daily.xml, eurofxref-hist.xml).

The file lists, per day, how many units of each currency one euro buys. Importing it again
changes nothing; a rate the ECB corrected replaces the stored one for that day.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as defused
from django.db import transaction

from cpo_portal.kernel.errors import InvalidInput
from invoicing.tax.models import ExchangeRate

ECB_SOURCE = "ECB reference rate"
_CUBE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}Cube"


class RateFileError(InvalidInput):
    """The file is not an ECB reference-rate file; the message says where it went wrong."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    days: int
    created: int
    updated: int


def parse_ecb_rates(data: bytes) -> list[tuple[date, str, Decimal]]:
    """(day, currency, rate per 1 EUR) for every rate in an ECB reference-rate XML file."""
    try:
        root = defused.fromstring(data)
    except ET.ParseError as exc:
        raise RateFileError(f"The file is not well-formed XML ({exc}).") from exc
    except DefusedXmlException as exc:
        raise RateFileError(
            f"The file declares entities or DTDs, which are refused ({exc})."
        ) from exc
    rates = []
    for day in root.iter(_CUBE):
        if "time" not in day.attrib:
            continue
        try:
            on = date.fromisoformat(day.attrib["time"])
        except ValueError as exc:
            raise RateFileError(f"“{day.attrib['time']}” is not a date (YYYY-MM-DD).") from exc
        for cube in day.findall(_CUBE):
            currency = cube.attrib.get("currency", "")
            text = cube.attrib.get("rate", "")
            try:
                rate = Decimal(text)
            except InvalidOperation:
                rate = Decimal(0)
            if len(currency) != 3 or not currency.isalpha() or not rate.is_finite() or rate <= 0:
                raise RateFileError(
                    f"{on}: “{currency}” at “{text}” is not a currency code with a positive rate."
                )
            rates.append((on, currency.upper(), rate))
    if not rates:
        raise RateFileError(
            "The file holds no rates: expected the ECB's eurofxref XML "
            "(<Cube time='…'><Cube currency='…' rate='…'/>)."
        )
    return rates


@transaction.atomic
def import_ecb_rates(data: bytes, *, source: str = ECB_SOURCE) -> ImportResult:
    """Store every rate of the file (all or nothing); the same day's rate is replaced."""
    rates = parse_ecb_rates(data)
    stored = {
        (r.currency, r.rate_date): r
        for r in ExchangeRate.objects.filter(
            rate_date__in={on for on, _c, _r in rates}
        ).select_for_update()
    }
    new, changed = [], []
    for on, currency, rate in rates:
        current = stored.get((currency, on))
        if current is None:
            new.append(ExchangeRate(currency=currency, rate_date=on, rate=rate, source=source))
        elif current.rate != rate or current.source != source:
            current.rate, current.source = rate, source
            changed.append(current)
    ExchangeRate.objects.bulk_create(new, batch_size=2000)
    ExchangeRate.objects.bulk_update(changed, ["rate", "source"], batch_size=2000)
    return ImportResult(
        days=len({on for on, _c, _r in rates}), created=len(new), updated=len(changed)
    )
