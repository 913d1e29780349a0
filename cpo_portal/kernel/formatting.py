"""How numbers, amounts, durations and dates read: the one home of every formatter.

PDFs, e-mails and the portal use these, so an amount or a duration reads the same everywhere,
in the active language (separators, grouping).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext as _

# The unit of energy lines (DocumentLine.Unit.KWH, SessionChargeLine.Unit.KWH).
KWH = "kWh"


def money(value: Decimal) -> str:
    """An amount with 2 decimals and the active language's separators."""
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def amount(value: Decimal, currency: str) -> str:
    return f"{money(value)} {currency}"


def decimal_text(value: Decimal, *, places: int) -> str:
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def unit_price_text(value: Decimal) -> str:
    """At least 2 decimals, more only where the price has them (0.041667 per minute)."""
    value = Decimal(value)
    exponent = -value.normalize().as_tuple().exponent
    return decimal_text(value, places=min(max(2, exponent), 6))


def quantity_text(value: Decimal, unit: str) -> str:
    """kWh with 3 decimals, minutes with up to 2, packages and months as whole numbers."""
    value = Decimal(value)
    if unit == KWH:
        return decimal_text(value, places=3)
    exponent = max(0, -value.normalize().as_tuple().exponent)
    return decimal_text(value, places=min(exponent, 2))


def rate_text(rate: Decimal | str) -> str:
    """A VAT rate without needless decimals: 19 %, 5,5 %."""
    rate = Decimal(rate)
    exponent = max(0, -rate.normalize().as_tuple().exponent)
    return f"{decimal_text(rate, places=min(exponent, 2))} %"


def energy_text(kwh: Decimal) -> str:
    return f"{decimal_text(kwh, places=3)} kWh"


def duration_text(seconds: int) -> str:
    """Hours and minutes, rounded to the minute: 1 h 05 min."""
    minutes = (abs(int(seconds)) + 30) // 60
    sign = "-" if seconds < 0 else ""
    return sign + _("%(hours)d h %(minutes)02d min") % {
        "hours": minutes // 60,
        "minutes": minutes % 60,
    }


def long_date(value: date) -> str:
    return formats.date_format(value, "DATE_FORMAT", use_l10n=True)


def short_date(value: date | datetime) -> str:
    # Arabic's short format carries right-to-left marks between the parts; inside a
    # left-to-right embedding they would tear the date apart, so they are dropped.
    text = formats.date_format(value, "SHORT_DATE_FORMAT", use_l10n=True)
    return text.replace("\u200f", "").replace("\u200e", "")
