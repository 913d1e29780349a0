"""Payment providers plug in here: one module each, named in the PAYMENT_PROVIDERS setting.

A provider records what happens at its end in the ledger (invoicing/payments/ledger.py); the
doors (portal, admin, API, notification endpoint) only call the methods below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from cpo_portal.kernel.errors import InvalidInput
from invoicing.documents.models import Document
from invoicing.payments.models import PaymentTransaction


class InvalidNotification(InvalidInput):
    """A provider notification that is malformed, unsigned, stale or replayed: refused (400)."""


@dataclass(frozen=True)
class Checkout:
    """Where to send the driver to pay, and the provider's reference of that checkout."""

    url: str
    reference: str


class PaymentProvider:
    """What every provider offers; a capability it lacks is switched off by its flags."""

    key: str = ""
    name: str = ""
    # Drivers can pay an open document through a hosted checkout.
    offers_checkout: bool = False
    # Payments it received can be refunded through it.
    refunds: bool = False

    def start_checkout(self, *, document: Document, return_url: str) -> Checkout:
        """Open a hosted checkout for what is still due on the document."""
        raise NotImplementedError(f"{self.name} offers no checkout.")

    def handle_notification(self, *, body: bytes, headers: Mapping[str, str]) -> None:
        """Verify and apply a notification the provider sent (InvalidNotification if not)."""
        raise NotImplementedError(f"{self.name} sends no notifications.")

    def refund(
        self,
        *,
        payment: PaymentTransaction,
        amount: Decimal,
        credit_note: Document | None = None,
        requested_by=None,
    ) -> PaymentTransaction:
        """Give back part or all of a payment it received; the refund is in the ledger."""
        raise NotImplementedError(f"{self.name} cannot refund.")


@cache
def _registry() -> dict[str, PaymentProvider]:
    providers = {}
    for path in settings.PAYMENT_PROVIDERS:
        provider = import_string(path)()
        providers[provider.key] = provider
    return providers


def provider(key: str) -> PaymentProvider:
    """The registered provider with that key (a clear error when none is)."""
    try:
        return _registry()[key]
    except KeyError:
        raise InvalidInput(
            f"No payment provider “{key}” is configured.", field="provider"
        ) from None


def registered() -> list[PaymentProvider]:
    return list(_registry().values())


def checkout_provider() -> PaymentProvider:
    """The provider drivers pay open documents through (PAYMENT_CHECKOUT_PROVIDER)."""
    return provider(settings.PAYMENT_CHECKOUT_PROVIDER)
