"""Paying a customer's credit back: staff transfer it themselves, and the ledger records refunds
of the incoming payments the credit is made of (newest money first), never more than the
credit."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from cpo_portal.kernel.money import round_money
from customers.models import Customer
from invoicing.documents.composition import InvoicingError
from invoicing.payments import ledger
from invoicing.payments.models import INCOMING_KINDS, PaymentTransaction, TransactionStatus
from invoicing.payments.providers import provider


def refund_credit(
    *, customer: Customer, currency: str, amount: Decimal, requested_by=None
) -> list[PaymentTransaction]:
    """Record that staff paid `amount` of the customer's credit back (manual provider): one
    refund per credited payment, each the child of that payment."""
    if isinstance(amount, float):
        raise TypeError("Amounts never pass through floats.")
    amount = round_money(Decimal(amount), currency)
    if amount <= 0:
        raise InvoicingError("A refund must be more than zero.", field="amount")
    manual = provider("manual")
    refunds = []
    with transaction.atomic():
        credited = (
            PaymentTransaction.objects.select_for_update()
            .filter(
                customer=customer,
                currency=currency,
                status=TransactionStatus.SUCCEEDED,
                kind__in=INCOMING_KINDS,
            )
            .order_by("-value_date", "-id")
        )
        shares = [(entry, ledger.unallocated(entry)) for entry in credited]
        credit = sum((left for _entry, left in shares if left > 0), Decimal(0))
        if amount > credit:
            raise InvoicingError(
                f"{amount} is more than the {credit} {currency} credit of {customer}.",
                field="amount",
            )
        left = amount
        for entry, share in shares:
            share = min(share, left)
            if share <= 0:
                continue
            refunds.append(manual.refund(payment=entry, amount=share, requested_by=requested_by))
            left -= share
            if left <= 0:
                break
    return refunds
