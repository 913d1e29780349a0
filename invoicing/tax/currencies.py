"""Currencies of the places of supply and the exchange-rate table (Art. 230 Directive 2006/112/EC).

When a document's currency is not the currency of the country the supply took place in, the
VAT is also stated in that country's currency, converted at the latest rate on or before the
issue date; the rate, its date and its source are frozen on the document. Rates come only from
the table (imported or typed in); nothing is fetched while a document is composed or rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.money import money_text, round_money
from invoicing.tax.models import ExchangeRate

EUR = "EUR"
# The currency VAT is declared in, per country of supply: the euro area, the rest of the EU,
# and the other countries the tax rules ship (CH, NO, GB). A country not listed declares in EUR.
EURO_AREA = [
    "AT",
    "BE",
    "CY",
    "DE",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PT",
    "SI",
    "SK",
]
COUNTRY_CURRENCY = {
    **{country: EUR for country in EURO_AREA},
    "BG": "BGN",
    "CZ": "CZK",
    "DK": "DKK",
    "HU": "HUF",
    "PL": "PLN",
    "RO": "RON",
    "SE": "SEK",
    "CH": "CHF",
    "LI": "CHF",
    "NO": "NOK",
    "GB": "GBP",
}


class MissingExchangeRate(InvalidInput):
    """No rate of a currency on or before a date: the document waits until one is entered."""


def country_currency(country: str) -> str:
    """The currency VAT is declared in for a supply in this country."""
    return COUNTRY_CURRENCY.get((country or "").upper(), EUR)


@dataclass(frozen=True, slots=True)
class Rate:
    currency: str
    rate_date: date
    rate: Decimal  # units of `currency` per 1 EUR
    source: str


def rate_on(currency: str, on_date: date) -> Rate:
    """The latest rate of a currency on or before a date (EUR is 1)."""
    currency = currency.upper()
    if currency == EUR:
        return Rate(EUR, on_date, Decimal(1), "")
    found = (
        ExchangeRate.objects.filter(currency=currency, rate_date__lte=on_date)
        .order_by("-rate_date")
        .values_list("rate_date", "rate", "source")
        .first()
    )
    if found is None:
        raise MissingExchangeRate(
            f"No exchange rate for {currency} on or before {on_date.isoformat()}: import the "
            "ECB rates (manage.py import_exchange_rates) or add one under Exchange rates."
        )
    return Rate(currency, found[0], found[1], found[2])


def convert(amount: Decimal, *, source: str, target: str, on_date: date) -> Decimal:
    """An amount in `source` expressed in `target` at the rates on that date (unrounded)."""
    if source.upper() == target.upper():
        return amount
    in_eur = amount / rate_on(source, on_date).rate
    return in_eur * rate_on(target, on_date).rate


def amount_in_eur(amount: Decimal, currency: str, on_date: date) -> Decimal:
    """An amount in EUR (rounded to cents half up) at the latest rate on or before the date."""
    return round_money(convert(Decimal(amount), source=currency, target=EUR, on_date=on_date))


def vat_in_supply_currencies(
    *, summary: list[dict], currency: str, countries: Iterable[str], on_date: date
) -> list[dict]:
    """The VAT rows restated in each supply country's currency that differs from the document's,
    with the rate used (per 1 unit of the document's currency), its date and source; empty
    when every supply country uses the document's currency."""
    stated = []
    wanted = sorted({country_currency(c) for c in countries if c} - {currency.upper()})
    for target in wanted:
        ours, theirs = rate_on(currency, on_date), rate_on(target, on_date)
        rate = theirs.rate / ours.rate
        rows = [
            {"rate": row["rate"], "vat": money_text(Decimal(row["vat"]) * rate, target)}
            for row in summary
        ]
        published = [r for r in (ours, theirs) if r.currency != EUR]
        stated.append(
            {
                "currency": target,
                "rate": format(rate.quantize(Decimal("0.000001")).normalize(), "f"),
                "rate_date": min(r.rate_date for r in published).isoformat(),
                "source": ", ".join(sorted({r.source for r in published})),
                "rows": rows,
                "total_vat": money_text(sum((Decimal(r["vat"]) for r in rows), Decimal(0)), target),
            }
        )
    return stated
