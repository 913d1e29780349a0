"""Verify a session's signed meter data (OCMF): signature, readings, pagination, meter.

Pure Python over pyocmf (no Django import): it reads the records exactly as received and says
whether their energy may be billed, and why not.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from pyocmf import OCMF, IssueSeverity, PyOCMFError, SpecWarning
from pyocmf.enums.reading import MeterReadingReason, is_end_reason

OCMF_METHOD = "OCMF"
TRANSPARENCY_SOFTWARE_URL = "https://www.safe-ev.de/de/transparenzsoftware.php"
_PAGINATION = re.compile(r"^([TF])(\d+)$")
_KWH = Decimal("0.001")
_WH_PER_KWH = Decimal(1000)
# Readings are stored with 12 integer digits (kWh); no meter's register comes near.
MAX_READING_KWH = Decimal(10) ** 11


@dataclass(frozen=True)
class SignedRecord:
    """One signed record as the CPMS sent it (an OCPI SignedValue or a native OCMF string)."""

    signed_data: str
    nature: str = ""
    plain_data: str = ""


@dataclass(frozen=True)
class SignedMeterInput:
    """The signed data of one session, every string exactly as received."""

    encoding_method: str
    records: tuple[SignedRecord, ...]
    public_key: str = ""
    url: str = ""
    encoding_method_version: int | None = None


@dataclass
class MeterVerdict:
    """What the verifier found: `issues` forbid billing the energy, `notes` do not."""

    issues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    meter_serial: str = ""
    start_kwh: Decimal | None = None
    end_kwh: Decimal | None = None
    pagination_context: str = ""
    pagination_first: int | None = None
    pagination_last: int | None = None

    @property
    def valid(self) -> bool:
        return not self.issues

    @property
    def measured_kwh(self) -> Decimal | None:
        """The billable energy: end reading minus start reading, in kWh (3 decimals)."""
        if self.start_kwh is None or self.end_kwh is None:
            return None
        return (self.end_kwh - self.start_kwh).quantize(_KWH, rounding=ROUND_HALF_UP)


def key_bytes(key: str) -> bytes | None:
    """A public key's DER bytes from its hex or base64 text (whitespace ignored)."""
    text = "".join(key.split())
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_signed_meter_data(data: SignedMeterInput, *, registered_key: str) -> MeterVerdict:
    """Check the records with the EVSE's registered key: signatures, one meter, a start and an
    end reading without error, consecutive pagination; the energy is end minus start."""
    verdict = MeterVerdict()
    if data.encoding_method.strip().upper() != OCMF_METHOD:
        verdict.issues.append(
            f"Encoding method “{data.encoding_method}” cannot be verified here (OCMF can)."
        )
        return verdict
    if not data.records:
        verdict.issues.append("The signed data holds no signed values.")
        return verdict
    key = _key_to_use(data.public_key, registered_key, verdict)
    parsed = _parse_records(data.records, verdict)
    if key is not None:
        _check_signatures(parsed, key, verdict)
    if parsed:
        _check_meter(parsed, verdict)
        _check_pagination(parsed, verdict)
        _check_readings(parsed, verdict)
    return verdict


def _plain(exc: Exception) -> str:
    """The library's message on one line, without its pointers to web pages."""
    lines = [
        line.strip()
        for line in str(exc).splitlines()
        if line.strip() and not line.strip().startswith("For further information")
    ]
    return " ".join(lines)


def _key_to_use(sent: str, registered: str, verdict: MeterVerdict) -> str | None:
    registered_der = key_bytes(registered)
    sent_der = key_bytes(sent)
    if registered.strip() and registered_der is None:
        verdict.issues.append("The public key registered for the EVSE is neither hex nor base64.")
        return None
    if registered_der is None:
        verdict.issues.append(
            "No public key is registered for this EVSE: register the key from the meter or its "
            "certificate, then verify again."
        )
        return None
    if sent.strip() and sent_der != registered_der:
        verdict.issues.append(
            "The public key sent with the data is not the one registered for the EVSE."
        )
    return registered_der.hex()


def _parse_records(
    records: Sequence[SignedRecord], verdict: MeterVerdict
) -> list[tuple[int, OCMF]]:
    parsed = []
    for position, record in enumerate(records, start=1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SpecWarning)
            try:
                ocmf = OCMF.from_string(record.signed_data)
            except (PyOCMFError, ValueError, TypeError) as exc:
                verdict.issues.append(f"Record {position} is not readable OCMF: {_plain(exc)}")
                continue
            except RecursionError:
                verdict.issues.append(f"Record {position} is not readable OCMF: nested too deep.")
                continue
        for warning in caught:
            verdict.notes.append(f"Record {position}: {warning.message}")
        parsed.append((position, ocmf))
    return parsed


def _check_signatures(parsed: list[tuple[int, OCMF]], key: str, verdict: MeterVerdict) -> None:
    for position, ocmf in parsed:
        try:
            valid = ocmf.verify_signature(key)
        except (PyOCMFError, ValueError, TypeError) as exc:
            verdict.issues.append(
                f"Record {position}: the signature cannot be checked: {_plain(exc)}"
            )
            continue
        if not valid:
            verdict.issues.append(
                f"Record {position}: the signature does not match the data (altered, or signed "
                "with another key)."
            )


def _check_meter(parsed: list[tuple[int, OCMF]], verdict: MeterVerdict) -> None:
    serials = {ocmf.payload.MS or ocmf.payload.GS or "" for _p, ocmf in parsed}
    if len(serials) > 1:
        verdict.issues.append(
            "The records come from different meters: " + ", ".join(sorted(serials)) + "."
        )
    verdict.meter_serial = sorted(serials)[0] if serials else ""


def _check_pagination(parsed: list[tuple[int, OCMF]], verdict: MeterVerdict) -> None:
    """The records of one session are consecutive records of the meter (no record missing)."""
    pages = []
    for position, ocmf in parsed:
        match = _PAGINATION.match(ocmf.payload.PG or "")
        if match is None:
            verdict.issues.append(f"Record {position} has no pagination (PG) like T12.")
            return
        pages.append((match.group(1), int(match.group(2))))
    contexts = {context for context, _n in pages}
    if len(contexts) > 1:
        verdict.issues.append("The records mix pagination contexts (T and F).")
        return
    numbers = sorted(n for _c, n in pages)
    verdict.pagination_context = pages[0][0]
    verdict.pagination_first, verdict.pagination_last = numbers[0], numbers[-1]
    for before, after in itertools.pairwise(numbers):
        if after == before:
            verdict.issues.append(f"Record {pages[0][0]}{after} was sent twice.")
        elif after != before + 1:
            missing = f"{pages[0][0]}{before + 1}" + (
                f" to {pages[0][0]}{after - 1}" if after - 1 > before + 1 else ""
            )
            verdict.issues.append(
                f"Pagination gap: {pages[0][0]}{after} follows {pages[0][0]}{before}; "
                f"record {missing} is missing."
            )


def _check_readings(parsed: list[tuple[int, OCMF]], verdict: MeterVerdict) -> None:
    readings = [r for _p, o in parsed for r in o.payload.RD]
    if not any(r.TX == MeterReadingReason.BEGIN for r in readings):
        verdict.issues.append("No begin reading (TX B): the energy cannot be measured.")
    if not any(is_end_reason(r.TX) for r in readings):
        verdict.issues.append("No end reading (TX E, L, R, A or P): the energy cannot be measured.")
    if verdict.issues:
        return
    begin_record = next(
        (o for _p, o in parsed if any(r.TX == MeterReadingReason.BEGIN for r in o.payload.RD)),
        parsed[0][1],
    )
    end_record = next(
        (o for _p, o in reversed(parsed) if any(is_end_reason(r.TX) for r in o.payload.RD)),
        parsed[-1][1],
    )
    if begin_record is end_record:
        findings = begin_record.check_eichrecht()
    else:
        findings = begin_record.check_eichrecht(end_record)
    for finding in findings:
        target = verdict.issues if finding.severity == IssueSeverity.ERROR else verdict.notes
        target.append(finding.message)
    if any(finding.severity == IssueSeverity.ERROR for finding in findings):
        return
    begin = _reading(begin_record, begin=True)
    end = _reading(end_record, begin=False)
    if begin is None or end is None:
        verdict.issues.append("No law-relevant energy reading in kWh or Wh to bill from.")
        return
    if max(abs(begin), abs(end)) >= MAX_READING_KWH:
        verdict.issues.append(
            f"A reading of {max(abs(begin), abs(end))} kWh is beyond any meter's register."
        )
        return
    verdict.start_kwh, verdict.end_kwh = begin, end


def _reading(ocmf: OCMF, *, begin: bool) -> Decimal | None:
    """The law-relevant (loss-compensated first) energy register's value in kWh."""
    readings = [r for r in ocmf.payload.RD if r.RI is not None and r.RI.is_law_relevant]
    compensated = [r for r in readings if r.RI.is_loss_compensated]
    readings = compensated or readings
    wanted = [
        r for r in readings if (r.TX == MeterReadingReason.BEGIN if begin else is_end_reason(r.TX))
    ]
    if not wanted or wanted[0].RV is None:
        return None
    value = Decimal(str(wanted[0].RV))
    unit = str(wanted[0].RU or "")
    if unit == "kWh":
        return value
    if unit == "Wh":
        return value / _WH_PER_KWH
    return None
