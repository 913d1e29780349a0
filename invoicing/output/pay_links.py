"""The pay link printed in an invoice e-mail: signed, it names the document and works without
signing in for 60 days, leading to the checkout of what is still due."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from cpo_portal.kernel.errors import InvalidInput
from invoicing.documents.models import Document, DocumentStatus

SALT = "invoicing.payments.pay-link"
MAX_AGE = 60 * 24 * 3600


def token(document: Document) -> str:
    return signing.dumps(document.pk, salt=SALT)


def url(document: Document) -> str:
    """The absolute pay link, or "" when drivers cannot pay online or nothing is open."""
    if not settings.PAYMENT_CHECKOUT_PROVIDER or document.status not in (
        DocumentStatus.ISSUED,
        DocumentStatus.OVERDUE,
    ):
        return ""
    path = reverse("portal:pay-link", args=[token(document)])
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def document_of(link_token: str) -> Document:
    """The document a pay link names (InvalidInput when it is forged or expired)."""
    try:
        document_id = signing.loads(link_token, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidInput("This pay link has expired; please sign in to pay.") from None
    except signing.BadSignature:
        raise InvalidInput("This pay link is not valid.") from None
    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        raise InvalidInput("This pay link is not valid.")
    return document
