"""The public receipt page's address per session: an unguessable signed token (no account, no
personal data), its QR code, and the log of each retrieval."""

from __future__ import annotations

import io

import segno
from django.conf import settings
from django.core import signing
from django.urls import reverse

from invoicing.output.models import ReceiptRetrieval
from sessions.models import ChargingSession

__all__ = [
    "log_retrieval",
    "qr_png",
    "qr_svg",
    "receipt_path",
    "receipt_token",
    "receipt_url",
    "session_of_token",
    "signed_data_url",
]

_signer = signing.Signer(salt="invoicing.public-receipt", sep=".")


def receipt_token(session_id: int) -> str:
    """The session's token: its id signed with the secret key (the same every time, so a QR
    code printed at the terminal stays valid; nobody can make one for another session)."""
    return _signer.sign(str(session_id))


def session_of_token(token: str) -> ChargingSession | None:
    """The session a token was signed for; None for anything forged or mistyped."""
    try:
        session_id = int(_signer.unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return ChargingSession.objects.filter(pk=session_id).select_related("evse__location").first()


def receipt_path(session_id: int) -> str:
    return reverse("portal:receipt", kwargs={"token": receipt_token(session_id)})


def receipt_url(session_id: int, *, base_url: str = "") -> str:
    """The page's full address: PUBLIC_BASE_URL when set, else the base the caller saw."""
    base = (settings.PUBLIC_BASE_URL or base_url).rstrip("/")
    return f"{base}{receipt_path(session_id)}"


def signed_data_url(session_id: int, *, base_url: str = "") -> str:
    """Where the driver downloads the session's signed meter data (the Transparenzsoftware's
    file) without an account."""
    base = (settings.PUBLIC_BASE_URL or base_url).rstrip("/")
    path = reverse("portal:receipt-signed-data", kwargs={"token": receipt_token(session_id)})
    return f"{base}{path}"


def qr_png(url: str, *, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(url: str, *, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=scale, border=4, xmldecl=True)
    return buffer.getvalue()


def log_retrieval(*, session_id: int, what: str, document_id: int | None = None) -> None:
    """Each retrieval is logged: what was fetched and when (no address, no personal data)."""
    ReceiptRetrieval.objects.create(session_id=session_id, what=what, document_id=document_id)
