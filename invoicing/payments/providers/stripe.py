"""Card and wallet payments through Stripe: a hosted Checkout Session for what is still due on
an open document (card data never reaches us), paid only when Stripe's signed webhook says so,
and refunds through Stripe's Refund API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import transaction

from cpo_portal.kernel.money import minor_units, round_money
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

REFUND_STATUS = {
    "succeeded": TransactionStatus.SUCCEEDED,
    "pending": TransactionStatus.PENDING,
    "requires_action": TransactionStatus.PENDING,
    "failed": TransactionStatus.FAILED,
    "canceled": TransactionStatus.FAILED,
}


def to_minor(amount: Decimal, currency: str) -> int:
    """Stripe counts in the currency's smallest unit (cents), as an integer."""
    return int(round_money(amount, currency).scaleb(minor_units(currency)))


def from_minor(amount: int, currency: str) -> Decimal:
    return round_money(Decimal(int(amount)).scaleb(-minor_units(currency)), currency)


class StripeProvider(PaymentProvider):
    key = "stripe"
    name = "Stripe"
    offers_checkout = True
    refunds = True

    def client(self) -> stripe.StripeClient:
        if not settings.STRIPE_SECRET_KEY:
            raise InvoicingError("Stripe is not configured (STRIPE_SECRET_KEY).", field="provider")
        return stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=2,
        )

    def start_checkout(self, *, document: Document, return_url: str) -> Checkout:
        """A Checkout Session for what is still due; the document id travels in its metadata."""
        due = document.outstanding
        if due <= 0:
            raise InvoicingError(f"Nothing is due on {document}.", field="document")
        metadata = {"document": str(document.pk), "number": document.number or ""}
        try:
            session = self.client().v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "client_reference_id": str(document.pk),
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": document.currency.lower(),
                                "unit_amount": to_minor(due, document.currency),
                                "product_data": {"name": str(document)},
                            },
                        }
                    ],
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": f"{return_url}?session={{CHECKOUT_SESSION_ID}}",
                    "cancel_url": return_url,
                }
            )
        except stripe.StripeError as error:
            raise InvoicingError(
                f"Stripe refused the checkout: {error.user_message or error}", field="provider"
            ) from error
        return Checkout(url=session.url, reference=session.id)

    def handle_notification(self, *, body: bytes, headers: Mapping[str, str]) -> None:
        """Only an event signed with our webhook secret, fresh and seen once, changes anything."""
        signature = headers.get("Stripe-Signature") or headers.get("stripe-signature") or ""
        if not signature:
            raise InvalidNotification("The Stripe-Signature header is missing.")
        try:
            event = stripe.Webhook.construct_event(
                body.decode("utf-8"), signature, settings.STRIPE_WEBHOOK_SECRET
            )
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidNotification(f"The body is not a Stripe event: {error}") from None
        except stripe.SignatureVerificationError as error:
            raise InvalidNotification(f"The Stripe signature is not valid: {error}") from None
        payload = body.decode()
        apply = getattr(self, "_" + event.type.replace(".", "_"), None)
        with transaction.atomic():
            if not ledger.accept_notification(
                provider=self.key, event_id=event.id, kind=event.type, payload=payload
            ):
                return
            if apply is not None:
                try:
                    apply(json.loads(payload)["data"]["object"], payload=payload)
                except (KeyError, TypeError, ValueError, AttributeError) as error:
                    raise InvalidNotification(
                        f"The Stripe event lacks what {event.type} needs: {error}"
                    ) from None

    def _document(self, metadata) -> Document:
        try:
            return Document.objects.get(pk=int((metadata or {}).get("document", "")))
        except (ValueError, Document.DoesNotExist):
            raise InvalidNotification("The event names no document of ours.") from None

    def _capture(self, *, reference, document, amount, currency, status, payload, reason=""):
        currency = currency.upper()
        ledger.record_transaction(
            ledger.TransactionFacts(
                operator=document.operator,
                provider=self.key,
                provider_reference=reference,
                kind=TransactionKind.CAPTURE,
                status=status,
                amount=from_minor(amount, currency),
                currency=currency,
                method=PaymentMethod.CARD,
                intended_document=document,
                failure_reason=reason,
                payload=payload,
            )
        )

    def _checkout_session_completed(self, session, *, payload: str) -> None:
        if session.get("payment_status") != "paid":
            return
        self._capture(
            reference=session["payment_intent"],
            document=self._document(session.get("metadata")),
            amount=session["amount_total"],
            currency=session["currency"],
            status=TransactionStatus.SUCCEEDED,
            payload=payload,
        )

    def _payment_intent_succeeded(self, intent, *, payload: str) -> None:
        self._capture(
            reference=intent["id"],
            document=self._document(intent.get("metadata")),
            amount=intent.get("amount_received") or intent["amount"],
            currency=intent["currency"],
            status=TransactionStatus.SUCCEEDED,
            payload=payload,
        )

    def _payment_intent_payment_failed(self, intent, *, payload: str) -> None:
        error = intent.get("last_payment_error") or {}
        self._capture(
            reference=intent["id"],
            document=self._document(intent.get("metadata")),
            amount=intent["amount"],
            currency=intent["currency"],
            status=TransactionStatus.FAILED,
            payload=payload,
            reason=error.get("message") or "The payment failed.",
        )

    def _charge_refunded(self, charge, *, payload: str) -> None:
        """Refunds made at Stripe (ours are already recorded under the same refund id)."""
        payment = PaymentTransaction.objects.filter(
            provider=self.key, provider_reference=charge.get("payment_intent") or ""
        ).first()
        if payment is None:
            # A charge made outside this product (Stripe's dashboard, another system on the
            # account): acknowledged so Stripe stops retrying; the event is kept as received.
            return
        for refund in (charge.get("refunds") or {}).get("data", []):
            ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=payment.operator,
                    provider=self.key,
                    provider_reference=refund["id"],
                    kind=TransactionKind.REFUND,
                    status=REFUND_STATUS.get(refund["status"], TransactionStatus.PENDING),
                    amount=from_minor(refund["amount"], payment.currency),
                    currency=payment.currency,
                    customer=payment.customer,
                    parent=payment,
                    payload=payload,
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
        """A Stripe refund of the payment intent; the ledger records it under Stripe's refund id."""
        metadata = {"payment": str(payment.pk)}
        if credit_note is not None:
            metadata["credit_note"] = str(credit_note.pk)
        with transaction.atomic():
            payment = PaymentTransaction.objects.select_for_update().get(pk=payment.pk)
            ledger.refund_room(payment, amount)
            already = ledger.refunded_from(payment)
            try:
                refund = self.client().v1.refunds.create(
                    params={
                        "payment_intent": payment.provider_reference,
                        "amount": to_minor(amount, payment.currency),
                        "metadata": metadata,
                    },
                    # The same refund asked twice (a retried request) is made once at Stripe.
                    options={"idempotency_key": f"refund-{payment.pk}-{already}-{amount}"},
                )
            except stripe.StripeError as error:
                raise InvoicingError(
                    f"Stripe refused the refund: {error.user_message or error}", field="provider"
                ) from error
            return ledger.record_transaction(
                ledger.TransactionFacts(
                    operator=payment.operator,
                    provider=self.key,
                    provider_reference=refund.id,
                    kind=TransactionKind.REFUND,
                    status=REFUND_STATUS.get(refund.status, TransactionStatus.PENDING),
                    amount=amount,
                    currency=payment.currency,
                    customer=payment.customer,
                    parent=payment,
                    intended_document=credit_note,
                    payload=json.dumps(refund.to_dict()),
                    recorded_by=requested_by,
                )
            )
