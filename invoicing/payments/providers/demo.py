"""The demo provider for development (`make run`): a local checkout page with “Pay” and
“Decline”, whose buttons post a notification signed with a local secret to the same
notification endpoint a real provider uses, so the loop is the real one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import parse_qs

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from invoicing.documents.composition import InvoicingError
from invoicing.documents.models import Document
from invoicing.payments import ledger
from invoicing.payments.models import (
    PaymentMethod,
    PaymentTransaction,
    TransactionKind,
    TransactionStatus,
)
from invoicing.payments.providers import Checkout, InvalidNotification, PaymentProvider

SALT = "invoicing.payments.demo"
# A checkout page and the notifications it signs are good for an hour.
MAX_AGE = 3600
OUTCOMES = {"paid": TransactionStatus.SUCCEEDED, "declined": TransactionStatus.FAILED}


def sign(data: dict) -> str:
    return signing.dumps(data, key=settings.DEMO_PAYMENT_SECRET, salt=SALT)


def unsign(token: str) -> dict:
    """The signed data, or InvalidNotification when forged, altered or older than an hour."""
    try:
        return signing.loads(token, key=settings.DEMO_PAYMENT_SECRET, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidNotification("The demo notification has expired.") from None
    except signing.BadSignature:
        raise InvalidNotification("The demo notification's signature is not valid.") from None


def notification(checkout: dict, outcome: str) -> str:
    """What the checkout page's “Pay” or “Decline” button sends, signed."""
    return sign({**checkout, "outcome": outcome, "event": uuid.uuid4().hex})


class DemoProvider(PaymentProvider):
    key = "demo"
    name = "Demo payments"
    offers_checkout = True
    refunds = True

    def start_checkout(self, *, document: Document, return_url: str) -> Checkout:
        """Our own checkout page for what is still due; nothing leaves the machine."""
        due = document.outstanding
        if due <= 0:
            raise InvoicingError(f"Nothing is due on {document}.", field="document")
        reference = f"demo-{uuid.uuid4().hex}"
        token = sign(
            {
                "reference": reference,
                "document": document.pk,
                "amount": str(due),
                "currency": document.currency,
                "return_url": return_url,
            }
        )
        return Checkout(url=reverse("portal:demo-checkout", args=[token]), reference=reference)

    def handle_notification(self, *, body: bytes, headers: Mapping[str, str]) -> None:
        """A signed, fresh “paid” or “declined”, applied once per event."""
        try:
            fields = parse_qs(body.decode("utf-8"), strict_parsing=True)
            event = unsign(fields["notification"][0])
            status = OUTCOMES[event["outcome"]]
            document = Document.objects.get(pk=event["document"])
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, Document.DoesNotExist):
            raise InvalidNotification("The body is not a demo payment notification.") from None
        with transaction.atomic():
            if not ledger.accept_notification(
                provider=self.key, event_id=event["event"], kind=event["outcome"]
            ):
                return
            ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=document.operator,
                    provider=self.key,
                    provider_reference=event["reference"],
                    kind=TransactionKind.CAPTURE,
                    status=status,
                    amount=Decimal(event["amount"]),
                    currency=event["currency"],
                    method=PaymentMethod.CARD,
                    intended_document=document,
                    failure_reason=""
                    if status == TransactionStatus.SUCCEEDED
                    else "Declined (demo).",
                )
            )

    def refund(
        self,
        *,
        payment: PaymentTransaction,
        amount: Decimal,
        credit_note: Document | None = None,
        requested_by=None,
    ) -> PaymentTransaction:
        """The demo pays refunds back at once."""
        return ledger.record_refund_made(
            provider=self.key,
            payment=payment,
            amount=amount,
            credit_note=credit_note,
            requested_by=requested_by,
        )
