"""OCPI 2.2.1 tariff pricing: parse tariffs and CDRs, price sessions with a per-component breakdown.

Pure Python (no Django import) so it is fast and testable; see docs/pricing.md for the rules.
"""

from sessions.pricing.cdr import (
    CdrInput,
    ChargingPeriod,
    parse_cdr,
    periods_from_native,
    with_measured_energy,
)
from sessions.pricing.engine import (
    BreakdownLine,
    Price,
    PricedSession,
    SessionTotals,
    VatRates,
    price_session,
)
from sessions.pricing.errors import CdrError, PricingError, TariffError
from sessions.pricing.split import split_periods_at_tariff_boundaries
from sessions.pricing.tariff import (
    PriceComponent,
    PriceLimit,
    Restrictions,
    Tariff,
    TariffElement,
    parse_tariff,
    without_time_prices,
)

__all__ = [
    "BreakdownLine",
    "CdrError",
    "CdrInput",
    "ChargingPeriod",
    "Price",
    "PriceComponent",
    "PriceLimit",
    "PricedSession",
    "PricingError",
    "Restrictions",
    "SessionTotals",
    "Tariff",
    "TariffElement",
    "TariffError",
    "VatRates",
    "parse_cdr",
    "parse_tariff",
    "periods_from_native",
    "price_session",
    "split_periods_at_tariff_boundaries",
    "with_measured_energy",
    "without_time_prices",
]
