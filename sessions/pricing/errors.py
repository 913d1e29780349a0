"""Errors raised by the pricing engine; each message names the JSON path and the problem."""

from __future__ import annotations


class PricingError(ValueError):
    """A session cannot be priced; the message is a sentence a back-office user can act on."""


class TariffError(PricingError):
    """The tariff JSON is not a valid OCPI 2.2.1 Tariff."""


class CdrError(PricingError):
    """The CDR or the native session record cannot be turned into charging periods."""
