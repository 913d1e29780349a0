"""How numbers, amounts, durations and dates read: the one home of every formatter.

PDFs, e-mails, the portal and the back-office all use these, so an amount or a duration reads
the same everywhere. Localised formatting follows the active language (separators, grouping);
`localized=False` writes the plain figure as it is stored (dot, no grouping), which the
back-office shows beside the stored amounts and the exports write.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext as _

from cpo_portal.kernel.money import minor_units, round_money
from cpo_portal.kernel.periods import local_time, zone_abbreviation

# The unit of energy lines (DocumentLine.Unit.KWH, SessionChargeLine.Unit.KWH).
KWH = "kWh"


def decimal_text(value: Decimal, *, places: int, localized: bool = True) -> str:
    """A number with `places` decimals: localised with grouping, or plain."""
    if not localized:
        return formats.number_format(value, places, use_l10n=False)
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def money(value: Decimal, *, currency: str | None = None, localized: bool = True) -> str:
    """An amount with its currency's minor units (2 when none is named: 12.50, JPY 1,250,
    BHD 1.250) and the active language's separators."""
    # Rounded here, half up: Django's number formatting would cut the extra digits off.
    return decimal_text(
        round_money(Decimal(value), currency), places=minor_units(currency), localized=localized
    )


def amount(value: Decimal, currency: str, *, separator: str = " ", localized: bool = True) -> str:
    """An amount and its currency: 1,234.50 EUR, 1,250 JPY."""
    return f"{money(value, currency=currency, localized=localized)}{separator}{currency}"


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


def energy_text(kwh: Decimal, *, localized: bool = True) -> str:
    """Energy with 3 decimals: 12.345 kWh."""
    return f"{decimal_text(kwh, places=3, localized=localized)} {KWH}"


def meter_readings_text(serial: str, start: Decimal, end: Decimal) -> str:
    """The signed readings a session is billed from: Meter EMH-7: 500.000 kWh → 522.345 kWh."""
    return _("Meter %(serial)s: %(start)s → %(end)s") % {
        "serial": serial,
        "start": energy_text(start),
        "end": energy_text(end),
    }


def duration_text(seconds: int) -> str:
    """Hours and minutes, rounded to the minute: 1 h 05 min."""
    minutes = (abs(int(seconds)) + 30) // 60
    sign = "-" if seconds < 0 else ""
    return sign + _("%(hours)d h %(minutes)02d min") % {
        "hours": minutes // 60,
        "minutes": minutes % 60,
    }


def clock_duration(seconds: int, *, with_seconds: bool = False) -> str:
    """Seconds as a clock reads them: h:mm, or h:mm:ss (always, or when seconds are left)."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if with_seconds or secs:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}"


def long_date(value: date) -> str:
    return formats.date_format(value, "DATE_FORMAT", use_l10n=True)


def short_date(value: date | datetime) -> str:
    # Arabic's short format carries right-to-left marks between the parts; inside a
    # left-to-right embedding they would tear the date apart, so they are dropped.
    text = formats.date_format(value, "SHORT_DATE_FORMAT", use_l10n=True)
    return text.replace("\u200f", "").replace("\u200e", "")


def local_datetime_text(moment: datetime, time_zone: str, *, localized: bool = True) -> str:
    """A moment on the clock of `time_zone`, the zone named: 30/11/2026 23:30 EET (localised) or
    2026-11-30 23:30 EET (plain, as the back-office shows stored values)."""
    local = local_time(moment, time_zone)
    day = short_date(local) if localized else f"{local:%Y-%m-%d}"
    return f"{day} {local:%H:%M} {zone_abbreviation(moment, time_zone)}"


def local_span_text(start: datetime, end: datetime | None, time_zone: str) -> str:
    """From start to end on the clock of `time_zone`, the day written once when it is the same
    and the zone named once: 30/11/2026 22:00\u201323:30 EET."""
    if end is None:
        return local_datetime_text(start, time_zone)
    first, last = local_time(start, time_zone), local_time(end, time_zone)
    zone = zone_abbreviation(end, time_zone)
    if first.date() == last.date():
        return f"{short_date(first)} {first:%H:%M}\u2013{last:%H:%M} {zone}"
    return f"{short_date(first)} {first:%H:%M} \u2013 {short_date(last)} {last:%H:%M} {zone}"
