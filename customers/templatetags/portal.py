"""Formatting for the portal's pages, in the active language: money, energy, durations, times."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils import formats, timezone, translation

from cpo_portal.kernel import formatting

register = template.Library()

LRI, PDI = "\u2066", "\u2069"


def _ltr(text: str) -> str:
    """Numbers with units stay in reading order inside right-to-left text (as on the PDFs)."""
    return f"{LRI}{text}{PDI}" if text and translation.get_language_bidi() else text


@register.filter
def money(value, currency: str = "") -> str:
    """An amount with 2 decimals and the language's separators, then the currency: 12.50 EUR."""
    if value is None or value == "":
        return ""
    if not currency:
        return _ltr(formatting.money(Decimal(value)))
    return _ltr(formatting.amount(Decimal(value), currency, separator="\u00a0"))


@register.filter
def kwh(value) -> str:
    """Energy with 3 decimals: 12.345 kWh."""
    if value is None:
        return ""
    return _ltr(f"{formatting.decimal_text(Decimal(value), places=3)}\u00a0{formatting.KWH}")


@register.filter
def duration(value) -> str:
    """Seconds or a timedelta as hours and minutes: 1 h 05 min."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return formatting.duration_text(int(seconds))


@register.filter
def rate(value) -> str:
    """A VAT rate without needless decimals: 19 %."""
    return "" if value is None else _ltr(formatting.rate_text(value))


@register.filter
def local_datetime(value: datetime | None, time_zone: str = "") -> str:
    """A moment as the clock showed it at the charger (the location's time zone), the zone named:
    30 November 2026, 23:30 EET."""
    if value is None:
        return ""
    try:
        zone = ZoneInfo(time_zone) if time_zone else timezone.get_current_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.get_current_timezone()
    moment = timezone.localtime(value, zone)
    day = formats.date_format(moment, "DATE_FORMAT", use_l10n=True)
    clock = formats.time_format(moment, "TIME_FORMAT", use_l10n=True)
    return f"{day}, {clock}\u00a0{moment.tzname()}"


@register.filter
def session_duration(session) -> str:
    """From plugging in to unplugging (charging and idle time); empty while in progress."""
    if session.ended_at is None:
        return ""
    return duration(session.ended_at - session.started_at)


@register.filter
def unit_price(value) -> str:
    """A price per unit with 2 to 6 decimals, as many as it has: 0.39, 0.041667."""
    return "" if value is None else _ltr(formatting.unit_price_text(Decimal(value)))
