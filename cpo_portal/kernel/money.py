"""Money arithmetic: the one place where amounts are quantised and rounded.

Every amount is a ``Decimal``. Money amounts carry their currency's minor units (ISO 4217:
2 for EUR and CHF, 0 for JPY, 3 for BHD; 2 when no currency is named), unit prices 4, energy 3;
all rounding is ROUND_HALF_UP (EN 16931 rounds half up, Python's default half-even would
silently disagree with customers' calculators).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

UNIT_PRICE_PLACES = Decimal("0.0001")
ENERGY_PLACES = Decimal("0.001")
ZERO = Decimal("0")
HUNDRED = Decimal("100")

# ISO 4217 currencies whose minor unit is not the cent; every other currency has 2 decimals.
MINOR_UNITS = {
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}


def minor_units(currency: str | None) -> int:
    """How many decimals an amount in this currency carries (ISO 4217; 2 when unknown)."""
    return MINOR_UNITS.get((currency or "").upper(), 2)


def money_places(currency: str | None) -> Decimal:
    """The exponent amounts in this currency are rounded to: 0.01 for EUR, 1 for JPY."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str | None = None) -> Decimal:
    """Round an amount to its currency's minor units (cents when none is named), half up."""
    return amount.quantize(money_places(currency), rounding=ROUND_HALF_UP)


def money_text(amount: Decimal, currency: str | None = None) -> str:
    """An amount as a plain decimal string with exactly its currency's minor units."""
    return format(round_money(Decimal(amount), currency), "f")


def round_unit_price(amount: Decimal) -> Decimal:
    """Round a unit price to 4 decimals, half up."""
    return amount.quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)


def round_energy(kwh: Decimal) -> Decimal:
    """Round an energy quantity to Wh (3 decimals of kWh), half up."""
    return kwh.quantize(ENERGY_PLACES, rounding=ROUND_HALF_UP)


def vat_amount(net: Decimal, rate_percent: Decimal, currency: str | None = None) -> Decimal:
    """VAT on a net amount at a percentage rate, rounded to the currency's minor units half up."""
    return round_money(net * rate_percent / HUNDRED, currency)


def round_quantity(value: Decimal, places: Decimal) -> Decimal:
    """Round any quantity to the given exponent, half up."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def vat_breakdown(
    lines: Iterable[tuple[Decimal, Decimal]],
    currency: str | None = None,
) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Net and VAT per rate from (rate, net) pairs: VAT on each rate's net sum (BR-CO-17)."""
    nets: dict[Decimal, Decimal] = {}
    for rate, net in lines:
        nets[rate] = nets.get(rate, ZERO) + net
    return {
        rate: (round_money(net, currency), vat_amount(net, rate, currency))
        for rate, net in sorted(nets.items())
    }
