"""Pricing a session again: allowed only while no live document bills it."""

from __future__ import annotations

from invoicing.documents.selectors import billed
from sessions import services as session_services
from sessions.models import ChargingSession
from sessions.pricing import PricingError


def reprice_unbilled_session(
    *, session: ChargingSession, current_tariff: bool = False
) -> ChargingSession:
    """Price a session again (from its own tariff snapshot, or the tariff as it stands now);
    invoiced sessions are never repriced."""
    if billed(ChargingSession.objects.filter(pk=session.pk)).exists():
        raise PricingError("An invoiced session keeps its price; correct it with a credit note.")
    return session_services.reprice_session(session=session, current_tariff=current_tariff)
