"""Reads about what documents cover: which sessions are billed, and a customer's documents."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from invoicing.documents.models import BilledSession
from invoicing.setup.models import DocumentKind


def _live_billings():
    return BilledSession.objects.filter(session=OuterRef("pk"), is_reversed=False).exclude(
        document_kind=DocumentKind.CREDIT_NOTE
    )


def billed(sessions: QuerySet) -> QuerySet:
    """Sessions on a live (not credited) invoice, pro forma or sales receipt."""
    return sessions.filter(Exists(_live_billings()))


def unbilled(sessions: QuerySet) -> QuerySet:
    """Sessions on no live invoice, pro forma or sales receipt (never billed, or credited)."""
    return sessions.exclude(Exists(_live_billings()))


def never_billed(sessions: QuerySet) -> QuerySet:
    """Sessions no document ever touched; credited sessions are re-billed only on request."""
    return sessions.exclude(Exists(BilledSession.objects.filter(session=OuterRef("pk"))))
