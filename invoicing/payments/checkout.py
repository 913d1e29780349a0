"""Paying an open document through the checkout provider: from the portal, the API, or the
invoice e-mail's signed pay link (which works without signing in until it expires)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.documents.models import Document, DocumentStatus
from invoicing.payments.models import PaymentTransaction, TransactionStatus
from invoicing.payments.providers import Checkout, checkout_provider
from invoicing.setup.models import DocumentKind

LINK_SALT = "invoicing.payments.pay-link"
# A pay link in an invoice e-mail works for 60 days.
LINK_MAX_AGE = 60 * 24 * 3600
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


def pay_link_token(document: Document) -> str:
    return signing.dumps(document.pk, salt=LINK_SALT)


def document_of_link(token: str) -> Document:
    """The document a pay link names (InvalidInput when it is forged or expired)."""
    try:
        document_id = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidInput("This pay link has expired; please sign in to pay.") from None
    except signing.BadSignature:
        raise InvalidInput("This pay link is not valid.") from None
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise InvalidInput("This pay link is not valid.")
    return document
