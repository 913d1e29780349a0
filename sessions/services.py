"""Business operations on charging data: tariff import, session ingest (native and OCPI CDR)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import simplejson
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cpo_portal.kernel.bulk import id_set, insert_models, insert_rows
from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.issuing_due import issuing_due_rule
from cpo_portal.kernel.json_limits import MAX_JSON_NUMBER, json_problem
from cpo_portal.kernel.money import round_energy, vat_breakdown
from cpo_portal.kernel.tax import PlaceRates, place_rates
from cpo_portal.kernel.tenancy import Operator
from customers.models import ChargingToken, Customer
from customers.services import create_customer, get_anonymous_customer
from sessions.events import stored_session_payloads
from sessions.metering.records import signed_input_of, store_signed_meter_data
from sessions.metering.rules import MeteringDecision, bills_time, decide_metering, metered_periods
from sessions.metering.signed_data import read_native_signed_data, read_ocpi_signed_data
from sessions.metering.verification import SignedMeterInput
from sessions.models import (
    EVSE,
    ChargingSession,
    SessionChargeLine,
    SignedMeterData,
    Tariff,
    TariffSnapshot,
)
from sessions.pricing import (
    ChargingPeriod,
    PricedSession,
    PricingError,
    TariffError,
    VatRates,
    limits,
    parse_cdr,
    parse_tariff,
    periods_from_native,
    price_session,
    split_periods_at_tariff_boundaries,
    without_time_prices,
)
from sessions.signals import sessions_ingested

logger = logging.getLogger(__name__)

AD_HOC_EMAIL_MAX_LENGTH = Customer._meta.get_field("email").max_length


class SessionQuarantined(InvalidInput):
    """The session's signed meter data do not allow pricing it (docs/metering.md)."""


def stored_metering(session: ChargingSession) -> MeteringDecision:
    """The metering decision over the session's stored signed data and its EVSE as it is now."""
    meter_data = SignedMeterData.objects.filter(session=session).first()
    return decide_metering(
        evse=session.evse, signed=signed_input_of(meter_data) if meter_data else None
    )


class TariffImportError(InvalidInput, ValueError):
    """A tariff could not be imported; the message names the problem (`path: problem`)."""

    def __init__(self, message: str):
        path, separator, problem = message.partition(": ")
        named = separator and path and " " not in path
        super().__init__(message, errors={path: [problem]} if named else None)


@dataclass
class IngestOutcome:
    """What happened to one submitted session: created, duplicate (unchanged) or rejected."""

    index: int
    source_id: str
    status: str
    session_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(text: str | bytes) -> Any:
    """Parse JSON keeping every number exact (Decimal, never float); NaN and Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def dump_json(data: Any) -> str:
    """Serialise JSON with Decimals written as the exact numbers they are."""
    return simplejson.dumps(data, use_decimal=True, ensure_ascii=False)


# --- tariffs -------------------------------------------------------------------------------


def read_tariff(data: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    """The OCPI 2.2.1 tariff in JSON text or a mapping, checked; TariffImportError says why not."""
    if isinstance(data, str | bytes):
        try:
            data = load_json(data)
        except json.JSONDecodeError as exc:
            raise TariffImportError(
                f"The tariff is not valid JSON: {exc.msg} (line {exc.lineno})."
            ) from exc
        except (ValueError, RecursionError) as exc:
            # An integer of 5,000 digits, NaN, or nesting deeper than Python recurses.
            raise TariffImportError(f"The tariff is not valid JSON: {exc}.") from exc
    if not isinstance(data, Mapping):
        raise TariffImportError("The tariff must be a JSON object.")
    problem = json_problem(data)
    if problem is not None:
        raise TariffImportError(f"{problem[0] or 'tariff'}: {problem[1]}")
    try:
        parse_tariff(dict(data))
    except PricingError as exc:
        raise TariffImportError(str(exc)) from exc
    return data


def import_tariff(
    *, operator: Operator, data: Mapping[str, Any] | str | bytes, now: datetime | None = None
) -> Tariff:
    """Store a version of the operator's tariff with this OCPI id, valid from its
    start_date_time (or from now when it replaces a version already in use) until its
    end_date_time; a version sessions were priced with is never overwritten."""
    data = read_tariff(data)
    tariff = parse_tariff(dict(data))
    text = dump_json(data)
    with transaction.atomic():
        versions = Tariff.objects.select_for_update().filter(operator=operator, ocpi_id=tariff.id)
        valid_from = tariff.start_date_time
        latest = (
            (versions.filter(valid_from=valid_from) if valid_from else versions)
            .order_by(*Tariff.NEWEST_FIRST)
            .first()
        )
        if latest is not None and latest.ocpi_json == text:
            return latest  # imported again unchanged
        version = (
            versions.filter(valid_from=valid_from)
            if valid_from
            else versions.filter(valid_from__isnull=True)
        ).first()
        if version is not None and not version.charging_sessions.exists():
            # A correction of a version no session used yet: nothing priced to keep.
            version.currency = tariff.currency
            version.ocpi_json = text
            version.valid_until = tariff.end_date_time
            version.save()
            return version
        if valid_from is None and versions.exists():
            # A new version without a start replaces the one in use from now on: sessions that
            # started before keep the prices they had, even when they arrive later.
            valid_from = now or timezone.now()
        return Tariff.objects.create(
            operator=operator,
            ocpi_id=tariff.id,
            currency=tariff.currency,
            ocpi_json=text,
            valid_from=valid_from,
            valid_until=tariff.end_date_time,
        )


def tariff_version_at(versions: Iterable[Tariff], moment: datetime) -> Tariff | None:
    """The version of a tariff that prices a session starting at this moment: among those
    valid then, the one that started last (the latest imported on a tie)."""
    valid = [
        v
        for v in versions
        if (v.valid_from is None or v.valid_from <= moment)
        and (v.valid_until is None or moment < v.valid_until)
    ]
    if not valid:
        return None
    return max(valid, key=lambda v: (v.valid_from is not None, v.valid_from or moment, v.pk))


def export_tariff(*, tariff: Tariff) -> dict[str, Any]:
    """The tariff as OCPI 2.2.1 JSON, numbers exactly as imported."""
    return load_json(tariff.ocpi_json)


# --- pricing -------------------------------------------------------------------------------


def vat_rates_for(operator: Operator) -> VatRates:
    """The operator's fallback VAT rates: electricity for energy, services for the rest."""
    settings = operator.invoicing_settings
    return VatRates(
        electricity=Decimal(settings.electricity_vat_rate),
        services=Decimal(settings.services_vat_rate),
    )


def rates_at_place(
    fallback: VatRates,
    lookup: PlaceRates,
    *,
    country: str,
    time_zone: str,
    ended_at: datetime,
    cache: dict | None = None,
) -> VatRates:
    """The rates for components without their own VAT: the tax rule of the charge point's
    country on the local day the session ended, else the operator's own rates."""
    on = ended_at.astimezone(ZoneInfo(time_zone)).date()
    key = (country, on)
    if cache is not None and key in cache:
        return cache[key]
    found = lookup(country, on)
    rates = fallback if found is None else VatRates(electricity=found[0], services=found[1])
    if cache is not None:
        cache[key] = rates
    return rates


CHARGE_LINE_FIELDS = (
    "session",
    "position",
    "component",
    "quantity",
    "unit",
    "unit_price",
    "net",
    "vat_category",
    "vat_rate",
    "vat",
    "gross",
)


def _charge_line_rows(session_id: int, priced: PricedSession) -> list[tuple]:
    """The session's breakdown lines as rows in the order of CHARGE_LINE_FIELDS."""
    return [
        (
            session_id,
            position,
            line.component,
            line.quantity,
            line.unit,
            line.unit_price,
            line.net,
            line.vat_category,
            line.vat_rate,
            line.vat,
            line.gross,
        )
        for position, line in enumerate(priced.lines, start=1)
    ]


def _store_charge_lines(stored: Iterable[tuple[ChargingSession, PricedSession]]) -> None:
    rows = [row for session, priced in stored for row in _charge_line_rows(session.pk, priced)]
    insert_rows(SessionChargeLine, CHARGE_LINE_FIELDS, rows)


def _apply_totals(session: ChargingSession, priced: PricedSession) -> None:
    """Session totals as a document would show them: VAT per rate on the summed nets."""
    summary = vat_breakdown((line.vat_rate, line.net) for line in priced.lines)
    session.total_net = sum((net for net, _vat in summary.values()), Decimal("0.00"))
    session.total_vat = sum((vat for _net, vat in summary.values()), Decimal("0.00"))
    session.total_gross = session.total_net + session.total_vat
    session.ocpi_totals = priced.totals_json()
    session.priced_at = timezone.now()


def periods_from_json(periods: Sequence[Mapping[str, Any]]) -> list[ChargingPeriod]:
    """Charging periods as stored on a session (ISO times, decimal strings)."""
    return [
        ChargingPeriod(
            start=parse_datetime(p["start"]),
            dimensions={k: Decimal(v) for k, v in p["dimensions"].items()},
        )
        for p in periods
    ]


def periods_to_json(periods: Sequence[ChargingPeriod]) -> list[dict[str, Any]]:
    return [
        {
            "start": p.start.isoformat(),
            "dimensions": {k: str(v) for k, v in p.dimensions.items()},
        }
        for p in periods
    ]


def tariff_snapshots(texts: set[str]) -> dict[str, TariffSnapshot]:
    """The stored snapshot for each tariff JSON text, storing each distinct text only once."""
    by_hash = {hashlib.sha256(text.encode()).hexdigest(): text for text in texts}
    found = {s.sha256: s for s in TariffSnapshot.objects.filter(sha256__in=by_hash)}
    missing = [TariffSnapshot(sha256=h, ocpi_json=t) for h, t in by_hash.items() if h not in found]
    if missing:
        # Another ingest may store the same snapshot meanwhile: ignore it and read both back.
        TariffSnapshot.objects.bulk_create(missing, ignore_conflicts=True)
        found.update(
            (s.sha256, s)
            for s in TariffSnapshot.objects.filter(sha256__in=[m.sha256 for m in missing])
        )
    return {text: found[h] for h, text in by_hash.items()}


def reprice_session(*, session: ChargingSession, current_tariff: bool = False) -> ChargingSession:
    """Price a session again with the version of its tariff valid at its start (a CDR's own
    tariff object stays its price unless `current_tariff` asks for the tariff as it stands now,
    a corrected tariff); invoicing refuses invoiced sessions. The signed meter data decide again:
    a session they still quarantine is refused, one they clear leaves quarantine priced."""
    if session.quarantine == ChargingSession.Quarantine.WRITTEN_OFF:
        raise SessionQuarantined(f"Session {session} was written off; it is never priced.")
    metering = stored_metering(session)
    if metering.quarantined:
        raise SessionQuarantined(
            f"Session {session} is quarantined: " + " ".join(metering.quarantine_reasons)
        )
    version = session.tariff
    versions = Tariff.objects.filter(operator=session.operator_id, ocpi_id=version.ocpi_id)
    if current_tariff:
        # A correction: the tariff as it was last imported, whatever its validity says.
        version = versions.order_by("-pk").first() or version
    elif session.tariff_snapshot.ocpi_json == version.ocpi_json:
        version = tariff_version_at(versions, session.started_at) or version
    # Otherwise the snapshot is a tariff object the CDR carried (or a version overwritten
    # before versions were kept): it stays what the session is priced with.
    snapshot_text = (
        version.ocpi_json
        if current_tariff or version.pk != session.tariff_id
        else session.tariff_snapshot.ocpi_json
    )
    tariff = parse_tariff(load_json(snapshot_text))
    if not bills_time(session.evse):
        tariff = without_time_prices(tariff)
    periods = periods_from_json(session.charging_periods)
    if session.payload_format == ChargingSession.PayloadFormat.NATIVE:
        # Cut again where this version's prices can change (pieces already cut stay cut).
        periods = split_periods_at_tariff_boundaries(
            periods,
            tariff=tariff,
            start=session.started_at,
            end=session.ended_at,
            time_zone=session.evse.location.time_zone,
        )
    periods = metered_periods(periods, metering)
    priced = price_session(
        tariff=tariff,
        periods=periods,
        start=session.started_at,
        end=session.ended_at,
        time_zone=session.evse.location.time_zone,
        vat_rates=rates_at_place(
            vat_rates_for(session.operator),
            place_rates(),
            country=session.evse.location.country,
            time_zone=session.evse.location.time_zone,
            ended_at=session.ended_at,
        ),
    )
    with transaction.atomic():
        session.charging_periods = periods_to_json(periods)
        if current_tariff or version.pk != session.tariff_id:
            session.tariff = version
            session.tariff_snapshot = tariff_snapshots({snapshot_text})[snapshot_text]
        session.charge_lines.all().delete()
        _apply_totals(session, priced)
        if metering.measured_kwh is not None:
            session.energy_kwh = round_energy(priced.totals.total_energy)
        session.meter_verdict = metering.meter_verdict
        session.meter_issues = metering.findings
        session.quarantine = ChargingSession.Quarantine.NONE
        session.save()
        _store_charge_lines([(session, priced)])
        webhooks.emit(operator=session.operator_id, event="session.priced", objects=[session])
    return session


# --- ingest --------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """A validated submission, ready to be priced and stored."""

    index: int
    source_id: str
    payload_format: str
    raw: str
    evse_id: str
    tariff_id: str
    started_at: datetime
    ended_at: datetime
    periods: list[ChargingPeriod]
    token_uid: str = ""
    token_kind: str = ""
    customer_id: int | None = None
    ad_hoc_email: str = ""
    embedded_tariff: dict[str, Any] | None = None
    signed: SignedMeterInput | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def _error(errors: dict[str, list[str]], field_name: str, message: str) -> None:
    errors.setdefault(field_name, []).append(message)


def _required_str(data: Mapping[str, Any], name: str, errors: dict, max_length: int) -> str:
    value = data.get(name)
    if value in (None, ""):
        _error(errors, name, "This field is required.")
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        _error(errors, name, "Must be a string.")
        return ""
    value = str(value).strip()
    if len(value) > max_length:
        _error(errors, name, f"Must be at most {max_length} characters.")
    return value


def _datetime(data: Mapping[str, Any], name: str, errors: dict) -> datetime | None:
    value = data.get(name)
    if value in (None, ""):
        _error(errors, name, "This field is required.")
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        # Well-formed but impossible: 30 February, 25:00, an offset of +99:00.
        parsed = None
    if parsed is None:
        _error(errors, name, "Must be an ISO 8601 date-time, e.g. 2026-03-01T18:30:00Z.")
        return None
    if timezone.is_naive(parsed):
        _error(errors, name, "Must include a time-zone offset (Z or +01:00).")
        return None
    try:
        # 0001-01-01T00:30:00+01:00 is in year 0 in UTC: not a time Python can hold.
        limits.within_session_years(parsed.astimezone(UTC), name, PricingError)
    except OverflowError:
        _error(errors, name, "Must be a date-time within the years 1 to 9999 in UTC.")
        return None
    except PricingError:
        _error(
            errors,
            name,
            f"Must be a date-time within the years {limits.EARLIEST_SESSION_TIME.year} to "
            f"{limits.LATEST_SESSION_TIME.year - 1} (limit).",
        )
        return None
    return parsed


def _decimal(
    data: Mapping[str, Any],
    name: str,
    errors: dict,
    *,
    required: bool,
    maximum: Decimal | None = None,
) -> Decimal:
    value = data.get(name)
    if value in (None, ""):
        if required:
            _error(errors, name, "This field is required.")
        return Decimal("0")
    try:
        if isinstance(value, bool | float):
            raise InvalidOperation
        number = Decimal(value.strip()) if isinstance(value, str) else None
        if isinstance(value, int | Decimal):
            number = Decimal(value)
        if number is None or not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        _error(errors, name, "Must be a decimal number (a JSON number or a string).")
        return Decimal("0")
    if number < 0:
        _error(errors, name, "Must not be negative.")
    elif maximum is not None and number > maximum:
        _error(errors, name, f"Must be at most {maximum} (limit).")
        return Decimal("0")
    return number


_MAX_SESSION_MINUTES = Decimal(int(limits.MAX_SESSION_DURATION.total_seconds()) // 60)


def _json_errors(data: Any) -> dict[str, list[str]]:
    """Nesting, numbers and text that no session may hold (the API's parser refuses them too)."""
    problem = json_problem(data)
    if problem is None:
        return {}
    path, message = problem
    return {path or "non_field_errors": [message]}


def _pricing_errors(exc: PricingError, default: str) -> dict[str, list[str]]:
    """`charging_periods[2].start_date_time: …` as that field's error (else `default`'s)."""
    path, separator, text = str(exc).partition(": ")
    if separator and path and " " not in path:
        return {path: [text]}
    return {default: [str(exc)]}


def _token_uid(value: Any, name: str, errors: dict) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        _error(errors, name, "Must be a string.")
        return ""
    return value.strip()


def _validate_native(index: int, data: Any) -> _Candidate | dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        return {"non_field_errors": ["Each session must be a JSON object."]}
    if errors := _json_errors(data):
        return errors
    source_id = _required_str(data, "source_id", errors, 64)
    evse_id = _required_str(data, "evse_id", errors, 48)
    tariff_id = _required_str(data, "tariff_id", errors, 36)
    started_at = _datetime(data, "start", errors)
    ended_at = _datetime(data, "end", errors)
    energy = _decimal(
        data, "energy_kwh", errors, required=True, maximum=limits.MAX_SESSION_ENERGY_KWH
    )
    idle_minutes = _decimal(
        data, "idle_minutes", errors, required=False, maximum=_MAX_SESSION_MINUTES
    )
    token_uid = _token_uid(data.get("token_uid"), "token_uid", errors)
    token_kind = str(data.get("token_kind") or "").strip()
    if token_kind:
        # Our kinds (rfid, app, contract_id) or the OCPI token types (RFID, APP_USER, ...).
        kind = token_kind if token_kind in ChargingToken.Kind.values else None
        kind = kind or ChargingToken.OCPI_TYPES.get(token_kind)
        if kind is None:
            _error(
                errors,
                "token_kind",
                f"Unknown token kind “{token_kind}”: one of "
                f"{', '.join(ChargingToken.Kind.values)}.",
            )
        elif not token_uid:
            _error(errors, "token_kind", "Give token_uid with token_kind.")
        token_kind = kind or ""
    customer_id = data.get("customer_id")
    if customer_id not in (None, "") and (
        not isinstance(customer_id, int)
        or isinstance(customer_id, bool)
        or abs(customer_id) >= MAX_JSON_NUMBER
    ):
        _error(errors, "customer_id", "Must be an integer customer id.")
    if len(token_uid) > 64:
        _error(errors, "token_uid", "Must be at most 64 characters.")
    if token_uid and customer_id not in (None, ""):
        _error(errors, "customer_id", "Give either token_uid or customer_id, not both.")
    ad_hoc_email = str(data.get("ad_hoc_email") or "").strip()
    if ad_hoc_email:
        try:
            if len(ad_hoc_email) > AD_HOC_EMAIL_MAX_LENGTH:
                raise ValidationError("too long")
            validate_email(ad_hoc_email)
        except ValidationError:
            _error(
                errors,
                "ad_hoc_email",
                f"Enter a valid e-mail address of at most {AD_HOC_EMAIL_MAX_LENGTH} characters.",
            )
    signed, signed_errors = read_native_signed_data(data)
    errors.update(signed_errors)
    periods: list[ChargingPeriod] = []
    if started_at and ended_at and not errors:
        if ended_at < started_at:
            _error(errors, "end", "The session must end after it starts.")
        elif ended_at - started_at > limits.MAX_SESSION_DURATION:
            _error(
                errors,
                "end",
                f"A session lasts at most {limits.MAX_SESSION_DURATION.days} days (limit).",
            )
        else:
            try:
                periods = periods_from_native(
                    start=started_at,
                    end=ended_at,
                    energy_kwh=energy,
                    idle_minutes=idle_minutes,
                )
            except PricingError as exc:
                errors.update(_pricing_errors(exc, "idle_minutes"))
    if errors:
        return errors
    return _Candidate(
        index=index,
        source_id=source_id,
        payload_format=ChargingSession.PayloadFormat.NATIVE,
        raw=dump_json(data),
        evse_id=evse_id,
        tariff_id=tariff_id,
        started_at=started_at,
        ended_at=ended_at,
        periods=periods,
        token_uid=token_uid,
        token_kind=token_kind,
        customer_id=customer_id or None,
        ad_hoc_email=ad_hoc_email,
        signed=signed,
    )


def _validate_cdr(index: int, data: Any) -> _Candidate | dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(data, Mapping):
        return {"non_field_errors": ["The CDR must be a JSON object."]}
    if errors := _json_errors(data):
        return errors
    source_id = _required_str(data, "id", errors, 64)
    location = data.get("cdr_location")
    evse_id = ""
    if not isinstance(location, Mapping) or not location.get("evse_id"):
        _error(errors, "cdr_location.evse_id", "This field is required.")
    else:
        evse_id = str(location["evse_id"])
    token = data.get("cdr_token")
    token_uid = token_kind = ""
    if isinstance(token, Mapping):
        token_uid = _token_uid(token.get("uid"), "cdr_token.uid", errors)
        token_type = token.get("type")
        if token_type not in (None, ""):
            token_kind = (
                ChargingToken.OCPI_TYPES.get(token_type, "") if isinstance(token_type, str) else ""
            )
            if not token_kind:
                _error(
                    errors,
                    "cdr_token.type",
                    f"Unknown token type: one of {', '.join(ChargingToken.OCPI_TYPES)}.",
                )
    elif token is not None:
        # A string would otherwise bill the session to the anonymous customer.
        _error(errors, "cdr_token", "Must be an OCPI CdrToken object with uid and type.")
    embedded = None
    tariff_id = ""
    tariffs = data.get("tariffs") or []
    if isinstance(tariffs, list) and tariffs and isinstance(tariffs[0], Mapping):
        embedded = dict(tariffs[0])
        tariff_id = str(embedded.get("id") or "")
        try:
            # Refused here, before any pricing, with the path inside the CDR.
            parse_tariff(embedded)
        except TariffError as exc:
            for path, messages in _pricing_errors(exc, "").items():
                errors[f"tariffs[0].{path}" if path else "tariffs[0]"] = messages
    periods_raw = data.get("charging_periods") or []
    if not tariff_id and isinstance(periods_raw, list):
        tariff_id = next(
            (
                str(p["tariff_id"])
                for p in periods_raw
                if isinstance(p, Mapping) and p.get("tariff_id")
            ),
            "",
        )
    if not tariff_id:
        _error(errors, "tariffs", "Name the tariff: a tariff object or a period's tariff_id.")
    signed, signed_errors = read_ocpi_signed_data(data.get("signed_data"))
    errors.update(signed_errors)
    try:
        cdr = parse_cdr(dict(data))
    except PricingError as exc:
        errors.update(_pricing_errors(exc, "charging_periods"))
        cdr = None
    if errors or cdr is None:
        return errors
    return _Candidate(
        index=index,
        source_id=source_id,
        payload_format=ChargingSession.PayloadFormat.OCPI_CDR,
        raw=dump_json(data),
        evse_id=evse_id,
        tariff_id=tariff_id,
        started_at=cdr.start,
        ended_at=cdr.end,
        periods=list(cdr.periods),
        token_uid=token_uid,
        token_kind=token_kind,
        embedded_tariff=embedded,
        signed=signed,
    )


def ingest_sessions(
    *,
    operator: Operator,
    source: str,
    payloads: Iterable[Any],
    payload_format: str = ChargingSession.PayloadFormat.NATIVE,
    batch_size: int = 1000,
) -> list[IngestOutcome]:
    """Store and price sessions from the CPMS; a source id already stored changes nothing."""
    outcomes: list[IngestOutcome] = []
    batch: list[tuple[int, Any]] = []
    for index, payload in enumerate(payloads):
        batch.append((index, payload))
        if len(batch) >= batch_size:
            outcomes.extend(_ingest_batch(operator, source, batch, payload_format))
            batch = []
    if batch:
        outcomes.extend(_ingest_batch(operator, source, batch, payload_format))
    return outcomes


def _echoed_source_id(payload: Any) -> str:
    """A rejected item's source id as sent, when it is one (not a list, a huge number, ...)."""
    if not isinstance(payload, Mapping):
        return ""
    value = payload.get("source_id") or payload.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    if json_problem(value) is not None:
        return ""
    return str(value)


def _ingest_batch(
    operator: Operator, source: str, batch: list[tuple[int, Any]], payload_format: str
) -> list[IngestOutcome]:
    validate = (
        _validate_cdr
        if payload_format == ChargingSession.PayloadFormat.OCPI_CDR
        else (_validate_native)
    )
    outcomes: dict[int, IngestOutcome] = {}
    candidates: list[_Candidate] = []
    for index, payload in batch:
        result = validate(index, payload)
        if isinstance(result, _Candidate):
            candidates.append(result)
        else:
            outcomes[index] = IngestOutcome(
                index, _echoed_source_id(payload), "rejected", errors=result
            )

    # Re-sent sessions (already stored, or twice in this batch) change nothing.
    existing = dict(
        ChargingSession.objects.filter(
            source=source, source_id__in=id_set((c.source_id for c in candidates), of=str)
        ).values_list("source_id", "id")
    )
    fresh: list[_Candidate] = []
    seen: dict[str, int] = {}
    for c in candidates:
        if c.source_id in existing:
            outcomes[c.index] = IngestOutcome(
                c.index, c.source_id, "duplicate", existing[c.source_id]
            )
        elif c.source_id in seen:
            outcomes[c.index] = IngestOutcome(
                c.index,
                c.source_id,
                "rejected",
                errors={
                    "source_id": [f"Sent twice in one request (also item {seen[c.source_id]})."]
                },
            )
        else:
            seen[c.source_id] = c.index
            fresh.append(c)

    evses = {
        e.evse_id: e
        for e in EVSE.objects.filter(
            location__operator=operator, evse_id__in={c.evse_id for c in fresh}
        ).select_related("location")
    }
    tariff_versions: dict[str, list[Tariff]] = {}
    for t in Tariff.objects.filter(operator=operator, ocpi_id__in={c.tariff_id for c in fresh}):
        tariff_versions.setdefault(t.ocpi_id, []).append(t)
    tokens: dict[str, list[ChargingToken]] = {}
    for t in ChargingToken.objects.filter(
        operator=operator, uid__in={c.token_uid for c in fresh if c.token_uid}
    ).select_related("customer"):
        tokens.setdefault(t.uid, []).append(t)
    customer_ids = {c.customer_id for c in fresh if c.customer_id}
    customers = Customer.objects.filter(operator=operator).in_bulk(customer_ids)
    fallback_rates = vat_rates_for(operator)
    rates_lookup = place_rates()
    rates_cache: dict = {}
    parsed_tariffs: dict[str, Any] = {}

    to_store: list[tuple[_Candidate, ChargingSession, PricedSession, MeteringDecision]] = []
    snapshot_of: dict[int, str] = {}
    for c in fresh:
        errors: dict[str, list[str]] = {}
        evse = evses.get(c.evse_id)
        if evse is None:
            _error(errors, "evse_id", f"Unknown EVSE “{c.evse_id}”.")
        tariff = None
        if c.tariff_id not in tariff_versions:
            _error(errors, "tariff_id", f"Unknown tariff “{c.tariff_id}”.")
        else:
            versions = tariff_versions[c.tariff_id]
            tariff = tariff_version_at(versions, c.started_at)
            if tariff is None and c.embedded_tariff:
                # The CDR carries its own price: the named tariff need only be known.
                tariff = max(versions, key=lambda v: (v.valid_from is not None, v.pk))
            if tariff is None:
                _error(
                    errors,
                    "tariff_id",
                    f"No version of tariff “{c.tariff_id}” is valid at the session start "
                    f"{c.started_at.isoformat()} (its start_date_time/end_date_time).",
                )
        token = _match_token(c, tokens, errors)
        customer = token.customer if token else None
        if c.customer_id:
            customer = customers.get(c.customer_id)
            if customer is None:
                _error(errors, "customer_id", f"Unknown customer {c.customer_id}.")
        if errors:
            outcomes[c.index] = IngestOutcome(c.index, c.source_id, "rejected", errors=errors)
            continue
        snapshot = dump_json(c.embedded_tariff) if c.embedded_tariff else tariff.ocpi_json
        key = snapshot if c.embedded_tariff else tariff.pk
        try:
            if key not in parsed_tariffs:
                parsed_tariffs[key] = parse_tariff(load_json(snapshot))
            if c.payload_format == ChargingSession.PayloadFormat.NATIVE:
                # One long charging period would be priced at the rate of its start: cut it
                # where the tariff can change (docs/pricing.md); the pieces are also stored.
                c.periods = split_periods_at_tariff_boundaries(
                    c.periods,
                    tariff=parsed_tariffs[key],
                    start=c.started_at,
                    end=c.ended_at,
                    time_zone=evse.location.time_zone,
                )
            metering = decide_metering(evse=evse, signed=c.signed)
            c.periods = metered_periods(c.periods, metering)
            priced = price_session(
                tariff=parsed_tariffs[key]
                if bills_time(evse)
                else without_time_prices(parsed_tariffs[key]),
                periods=c.periods,
                start=c.started_at,
                end=c.ended_at,
                time_zone=evse.location.time_zone,
                vat_rates=rates_at_place(
                    fallback_rates,
                    rates_lookup,
                    country=evse.location.country,
                    time_zone=evse.location.time_zone,
                    ended_at=c.ended_at,
                    cache=rates_cache,
                ),
            )
        except (PricingError, ZoneInfoNotFoundError) as exc:
            outcomes[c.index] = IngestOutcome(
                c.index, c.source_id, "rejected", errors={"tariff_id": [str(exc)]}
            )
            continue
        except ArithmeticError:
            # Input the validators let through but the arithmetic could not hold: this item is
            # refused, the rest of the batch is still stored (and the gap is in the log).
            logger.exception("Session %r could not be priced", c.source_id)
            outcomes[c.index] = IngestOutcome(
                c.index,
                c.source_id,
                "rejected",
                errors={"non_field_errors": ["The session could not be priced with its tariff."]},
            )
            continue
        session = ChargingSession(
            operator=operator,
            source=source,
            source_id=c.source_id,
            payload_format=c.payload_format,
            customer=customer,
            token=token,
            evse=evse,
            tariff=tariff,
            started_at=c.started_at,
            ended_at=c.ended_at,
            energy_kwh=round_energy(priced.totals.total_energy),
            # OCPI total_time is the whole session; charging time excludes the idle part.
            charging_seconds=int(
                (priced.totals.total_time - priced.totals.total_parking_time) * 3600
            ),
            idle_seconds=int(priced.totals.total_parking_time * 3600),
            charging_periods=periods_to_json(c.periods),
            status=ChargingSession.Status.COMPLETED,
            currency=tariff.currency,
            raw_payload=c.raw,
            meter_verdict=metering.meter_verdict,
            meter_issues=metering.findings,
            quarantine=(
                ChargingSession.Quarantine.OPEN
                if metering.quarantined
                else ChargingSession.Quarantine.NONE
            ),
        )
        if not metering.quarantined:  # never priced on the CPMS's unsigned figure
            _apply_totals(session, priced)
        snapshot_of[c.index] = snapshot
        to_store.append((c, session, priced, metering))

    if to_store:
        snapshots = tariff_snapshots(set(snapshot_of.values()))
        for c, session, _priced, _metering in to_store:
            session.tariff_snapshot = snapshots[snapshot_of[c.index]]
        _store(operator, to_store, outcomes)
        _announce_ingested(operator, to_store, outcomes)
    return [outcomes[index] for index, _payload in batch]


def _match_token(
    c: _Candidate, tokens: dict[str, list[ChargingToken]], errors: dict[str, list[str]]
) -> ChargingToken | None:
    """The token a session names: its UID and kind; a UID shared by several kinds needs one."""
    if not c.token_uid:
        return None
    cdr = c.payload_format == ChargingSession.PayloadFormat.OCPI_CDR
    matches = [t for t in tokens.get(c.token_uid, []) if not c.token_kind or t.kind == c.token_kind]
    if not matches:
        _error(
            errors,
            "cdr_token.uid" if cdr else "token_uid",
            f"Unknown charging token “{c.token_uid}”"
            + (f" of kind {c.token_kind}." if c.token_kind else "."),
        )
        return None
    if len(matches) > 1:
        kinds = ", ".join(sorted(t.kind for t in matches))
        _error(
            errors,
            "cdr_token.type" if cdr else "token_kind",
            f"Tokens of several kinds ({kinds}) have the UID “{c.token_uid}”: give the kind "
            + ("(RFID, APP_USER, AD_HOC_USER or OTHER)." if cdr else "(rfid, app or contract_id)."),
        )
        return None
    return matches[0]


_Stored = tuple[_Candidate, ChargingSession, PricedSession, MeteringDecision]


def _announce_ingested(
    operator: Operator, stored: list[_Stored], outcomes: dict[int, IngestOutcome]
) -> None:
    """Tell the layers above which sessions were created (receivers queue their documents)."""
    created = [session for c, session, *_rest in stored if outcomes[c.index].status == "created"]
    if created:
        sessions_ingested.send(sender=ChargingSession, operator=operator, sessions=created)


def _persist(operator: Operator, items: list[_Stored]) -> None:
    """Store sessions, their lines (priced ones only), their signed data and the webhook rows."""
    insert_models([s for _c, s, *_rest in items])
    priced = [(s, p) for _c, s, p, m in items if not m.quarantined]
    _store_charge_lines(priced)
    store_signed_meter_data([(s, c.signed, m.verdict) for c, s, _p, m in items if c.signed])
    if priced:
        webhooks.emit(
            operator=operator,
            event="session.priced",
            described=stored_session_payloads(s for s, _p in priced),
        )


def _store(operator: Operator, to_store: list[_Stored], outcomes: dict[int, IngestOutcome]) -> None:
    resolved = {c.index: s.customer for c, s, *_rest in to_store}
    due = issuing_due_rule(operator)
    try:
        with transaction.atomic():
            _attach_customers(operator, to_store, due)
            _persist(operator, to_store)
    except IntegrityError:
        # Another request stored one of these source ids first: store one by one, and forget
        # what the rolled-back attempt assigned (ids, customers created inside it).
        for item in to_store:
            c, session = item[0], item[1]
            session.pk = None
            session.customer = resolved[c.index]
            try:
                with transaction.atomic():
                    _attach_customers(operator, [item], due)
                    _persist(operator, [item])
            except IntegrityError as exc:
                stored = ChargingSession.objects.filter(
                    source=session.source, source_id=c.source_id
                ).first()
                outcomes[c.index] = (
                    IngestOutcome(c.index, c.source_id, "duplicate", stored.pk)
                    if stored
                    else IngestOutcome(
                        c.index,
                        c.source_id,
                        "rejected",
                        errors={"non_field_errors": [f"The session could not be stored: {exc}"]},
                    )
                )
            else:
                outcomes[c.index] = IngestOutcome(c.index, c.source_id, "created", session.pk)
        return
    for c, session, *_rest in to_store:
        outcomes[c.index] = IngestOutcome(c.index, c.source_id, "created", session.pk)


def _attach_customers(
    operator: Operator, to_store: list[_Stored], due: Callable[[Customer], bool]
) -> None:
    """Sessions without a customer go to an ad-hoc e-mail customer or the anonymous one; each
    session records whether it is due for a document under the settings of this moment."""
    anonymous = None
    for c, session, *_rest in to_store:
        if session.customer is None:
            anonymous = _attach_customer(operator, c, session, anonymous)
        session.issuing_due = due(session.customer)


def _attach_customer(
    operator: Operator, c: _Candidate, session: ChargingSession, anonymous: Customer | None
) -> Customer | None:
    """Attach the ad-hoc e-mail customer or the anonymous one; returns the anonymous one."""
    if c.ad_hoc_email:
        session.customer = create_customer(
            operator=operator, values={"kind": Customer.Kind.AD_HOC, "email": c.ad_hoc_email}
        )
        return anonymous
    anonymous = anonymous or get_anonymous_customer(operator=operator)
    session.customer = anonymous
    return anonymous
