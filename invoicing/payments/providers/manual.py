"""Money staff record by hand (cash at the desk, a transfer seen in the bank's web page) and
refunds they paid out themselves."""

from __future__ import annotations

from decimal import Decimal

from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import PaymentTransaction
from invoicing.payments.providers import PaymentProvider


class ManualProvider(PaymentProvider):
    key = "manual"
    name = "Recorded by staff"
    refunds = True

    def refund(
        self,
        *,
        payment: PaymentTransaction,
        amount: Decimal,
        credit_note: Document | None = None,
        requested_by=None,
    ) -> PaymentTransaction:
        """Staff paid the money back themselves: the refund is recorded as done."""
        return ledger.record_refund_made(
            provider=self.key,
            payment=payment,
            amount=amount,
            credit_note=credit_note,
            requested_by=requested_by,
        )
