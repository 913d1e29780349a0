"""What the VAT rates of a place and day are, asked by layers below the tax rules.

Pricing (sessions) needs a fallback rate for tariff components without their own VAT; the tax
rules live in invoicing, which the sessions layer must not import. Invoicing registers the
lookup here when it is ready; without it (or for a country without rules) the operator's own
rates apply.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

# (country, local date) -> (electricity rate, services rate), or None when no rule applies.
PlaceRates = Callable[[str, date], "tuple[Decimal, Decimal] | None"]

_loader: Callable[[], PlaceRates] | None = None


def register_place_rates(loader: Callable[[], PlaceRates]) -> None:
    """Install the loader that reads the tax rules (called once per batch)."""
    global _loader
    _loader = loader


def place_rates() -> PlaceRates:
    """A lookup of the rates in force at a place and day, read once for a batch of sessions."""
    if _loader is None:
        return lambda _country, _on: None
    return _loader()
