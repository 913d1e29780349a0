"""The Eichrecht rules of billing: which energy a session is billed with, whether time prices
apply, and when a session is quarantined instead of priced (docs/metering.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sessions.metering.verification import (
    MeterVerdict,
    SignedMeterInput,
    verify_signed_meter_data,
)
from sessions.models import EVSE, ChargingSession
from sessions.pricing import ChargingPeriod, limits, with_measured_energy

# Where measurement law makes a charger's clock decide whether time may be billed.
CLOCK_LAW_COUNTRIES = frozenset({"DE"})


@dataclass
class MeteringDecision:
    """A session's metering: the verdict on its signed data and what billing may use."""

    verdict: MeterVerdict | None
    quarantine_reasons: list[str] = field(default_factory=list)
    measured_kwh: Decimal | None = None

    @property
    def quarantined(self) -> bool:
        return bool(self.quarantine_reasons)

    @property
    def meter_verdict(self) -> str:
        if self.verdict is None:
            return ChargingSession.MeterVerdict.NONE
        if self.verdict.valid:
            return ChargingSession.MeterVerdict.VALID
        return ChargingSession.MeterVerdict.INVALID

    @property
    def findings(self) -> list[str]:
        """The reasons of a quarantine first, then what the verifier noted."""
        notes = self.verdict.notes if self.verdict else []
        return [*self.quarantine_reasons, *notes]


def decide_metering(*, evse: EVSE, signed: SignedMeterInput | None) -> MeteringDecision:
    """At a calibration-law relevant EVSE only valid signed readings are billed (their
    difference); without them the session is quarantined. Elsewhere signed data is verified
    and shown, and the CPMS's energy is billed."""
    verdict = (
        verify_signed_meter_data(signed, registered_key=evse.meter_public_key)
        if signed is not None
        else None
    )
    decision = MeteringDecision(verdict=verdict)
    if not evse.calibration_law_relevant:
        return decision
    if verdict is None:
        decision.quarantine_reasons.append(
            f"No signed meter data: EVSE {evse.evse_id} is calibration-law relevant, so only "
            "signed readings may be billed."
        )
    elif not verdict.valid:
        decision.quarantine_reasons.extend(verdict.issues)
    elif verdict.measured_kwh > limits.MAX_SESSION_ENERGY_KWH:
        decision.quarantine_reasons.append(
            f"The signed readings give {verdict.measured_kwh} kWh, more than one session can "
            f"hold ({limits.MAX_SESSION_ENERGY_KWH} kWh): check the meter's readings."
        )
    else:
        decision.measured_kwh = verdict.measured_kwh
    return decision


def bills_time(evse: EVSE) -> bool:
    """Time-based prices are billed unless the charger's clock is not legally relevant and the
    EVSE is in a country whose measurement law covers time (Germany)."""
    return evse.clock_legally_relevant or evse.location.country not in CLOCK_LAW_COUNTRIES


def metered_periods(
    periods: list[ChargingPeriod], decision: MeteringDecision
) -> list[ChargingPeriod]:
    """The periods to price: their energy is the measured one where the signed data decides."""
    if decision.measured_kwh is None:
        return list(periods)
    return with_measured_energy(list(periods), decision.measured_kwh)
