"""Paying an open document through the checkout provider: from the portal, the API, or the
invoice e-mail's signed pay link (invoicing/output/pay_links.py)."""

from __future__ import annotations

from django.conf import settings

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments.models import PaymentTransaction, TransactionStatus
from invoicing.payments.providers import Checkout, checkout_provider
from invoicing.setup.models import DocumentKind

OPEN = (DocumentStatus.ISSUED, DocumentStatus.OVERDUE)


def enabled() -> bool:
    """Drivers can pay online when a checkout provider is configured."""
    return bool(settings.PAYMENT_CHECKOUT_PROVIDER)


def is_due(document: Document) -> bool:
    """An issued or overdue invoice or receipt with money still to pay."""
    return (
        document.kind != DocumentKind.CREDIT_NOTE
        and document.status in OPEN
        and document.outstanding > 0
    )


def start(*, document: Document, return_url: str) -> Checkout:
    """A checkout for what is still due (StateConflict when nothing is)."""
    if not enabled():
        raise InvalidInput("Online payment is not configured.", field="provider")
    if not is_due(document):
        raise StateConflict(f"Nothing is due on {document}.")
    return checkout_provider().start_checkout(document=document, return_url=return_url)


def outcome(document: Document) -> dict:
    """What the return page says: paid, declined (the newest attempt failed), or still pending."""
    latest = (
        PaymentTransaction.objects.filter(intended_document=document)
        .order_by("-updated_at", "-pk")
        .first()
    )
    return {
        "is_paid": document.status == DocumentStatus.PAID,
        "declined": latest is not None and latest.status == TransactionStatus.FAILED,
        "failure_reason": latest.failure_reason if latest is not None else "",
    }
