"""Money arithmetic: the one place where amounts are quantised and rounded.

Every amount is a ``Decimal``. Money amounts carry 2 decimals, unit prices 4,
energy 3; all rounding is ROUND_HALF_UP (EN 16931 rounds half up, Python's
default half-even would silently disagree with customers' calculators).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

MONEY_PLACES = Decimal("0.01")
UNIT_PRICE_PLACES = Decimal("0.0001")
ENERGY_PLACES = Decimal("0.001")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def round_money(amount: Decimal) -> Decimal:
    """Round an amount to cents, half up."""
    return amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def round_unit_price(amount: Decimal) -> Decimal:
    """Round a unit price to 4 decimals, half up."""
    return amount.quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)


def round_energy(kwh: Decimal) -> Decimal:
    """Round an energy quantity to Wh (3 decimals of kWh), half up."""
    return kwh.quantize(ENERGY_PLACES, rounding=ROUND_HALF_UP)


def vat_amount(net: Decimal, rate_percent: Decimal) -> Decimal:
    """VAT on a net amount at a percentage rate, rounded to cents half up."""
    return round_money(net * rate_percent / HUNDRED)


def round_quantity(value: Decimal, places: Decimal) -> Decimal:
    """Round any quantity to the given exponent, half up."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def vat_breakdown(
    lines: Iterable[tuple[Decimal, Decimal]],
) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """Net and VAT per rate from (rate, net) pairs: VAT on each rate's net sum (BR-CO-17)."""
    nets: dict[Decimal, Decimal] = {}
    for rate, net in lines:
        nets[rate] = nets.get(rate, ZERO) + net
    return {rate: (round_money(net), vat_amount(net, rate)) for rate, net in sorted(nets.items())}
