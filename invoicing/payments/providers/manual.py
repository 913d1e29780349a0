"""Money staff record by hand (cash at the desk, a transfer seen in the bank's web page) and
refunds they paid out themselves."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction

from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import PaymentTransaction, TransactionKind, TransactionStatus
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
        with transaction.atomic():
            payment = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
            ledger.refund_room(payment, amount)
            return ledger.record_transaction(
                operator=payment.operator,
                provider=self.key,
                provider_reference=f"refund-{uuid.uuid4().hex}",
                kind=TransactionKind.REFUND,
                status=TransactionStatus.SUCCEEDED,
                amount=amount,
                currency=payment.currency,
                customer=payment.customer,
                parent=payment,
                intended_document=credit_note,
                recorded_by=requested_by,
            )
