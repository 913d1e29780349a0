"""Staff resolve quarantined sessions: verify again (after registering the meter's key or
receiving the signed data), or write the session off so it is never billed."""

from __future__ import annotations

from django.db import transaction

from cpo_portal.kernel.errors import StateConflict
from sessions.metering.records import describe_verdict, store_signed_meter_data
from sessions.metering.verification import SignedMeterInput
from sessions.models import ChargingSession, SignedMeterData
from sessions.services import SessionQuarantined, reprice_session, stored_metering
from sessions.signals import sessions_released


class SignedDataExists(StateConflict):
    """Signed meter data, once stored, are never replaced."""


def verify_again(*, session: ChargingSession) -> ChargingSession:
    """Verify the stored signed data again with the EVSE as it is now: cleared, the session is
    priced and billed like any other; still failing, its reasons are brought up to date."""
    if session.quarantine == ChargingSession.Quarantine.WRITTEN_OFF:
        raise SessionQuarantined(f"Session {session} was written off; it is never billed.")
    with transaction.atomic():
        session = ChargingSession.objects.select_for_update().get(pk=session.pk)
        was_quarantined = session.quarantine == ChargingSession.Quarantine.OPEN
        decision = stored_metering(session)
        meter_data = SignedMeterData.objects.filter(session=session).first()
        if meter_data is not None:
            describe_verdict(meter_data, decision.verdict)
            meter_data.save()
        if decision.quarantined:
            session.meter_verdict = decision.meter_verdict
            session.meter_issues = decision.findings
            session.save(update_fields=["meter_verdict", "meter_issues"])
            return session
        if was_quarantined:
            reprice_session(session=session)
            sessions_released.send(
                sender=ChargingSession, operator=session.operator, sessions=[session]
            )
        else:
            session.meter_verdict = decision.meter_verdict
            session.meter_issues = decision.findings
            session.save(update_fields=["meter_verdict", "meter_issues"])
    return session


def attach_signed_data(*, session: ChargingSession, signed: SignedMeterInput) -> ChargingSession:
    """Signed data that arrive after their session are stored as received and verified."""
    with transaction.atomic():
        session = ChargingSession.objects.select_for_update().get(pk=session.pk)
        if SignedMeterData.objects.filter(session=session).exists():
            raise SignedDataExists(
                f"Session {session} already has signed meter data; stored data are never replaced."
            )
        store_signed_meter_data([(session, signed, None)])
        return verify_again(session=session)


def write_off(*, session: ChargingSession, reason: str) -> ChargingSession:
    """Staff decide a quarantined session is never billed; the reason stays on it."""
    reason = reason.strip()
    if not reason:
        raise SessionQuarantined("Say why the session is written off.")
    with transaction.atomic():
        session = ChargingSession.objects.select_for_update().get(pk=session.pk)
        if session.quarantine != ChargingSession.Quarantine.OPEN:
            raise SessionQuarantined(f"Session {session} is not in quarantine.")
        session.quarantine = ChargingSession.Quarantine.WRITTEN_OFF
        session.meter_issues = [*session.meter_issues, f"Written off: {reason}"]
        session.save(update_fields=["quarantine", "meter_issues"])
    return session
