"""Sites set up from OCPI 2.2.1 Location JSON: the location and its EVSEs, created or updated
by the location's id, so an integrator can set up a site without the admin."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from cpo_portal.kernel.errors import InvalidInput, StateConflict
from sessions.metering.verification import key_bytes
from sessions.models import EVSE, Location

METERING_FLAGS = ("calibration_law_relevant", "clock_legally_relevant")


def _text(data, name, errors, max_length):
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = ["This field is required."]
        return ""
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters."]
    return value.strip()


def import_location(*, operator, data: Any) -> tuple[Location, bool]:
    """Create or update a location (by its OCPI `id`) with its EVSEs (by `evse_id`)."""
    if not isinstance(data, dict):
        raise InvalidInput("The location must be a JSON object.")
    errors: dict[str, list[str]] = {}
    ocpi_id = _text(data, "id", errors, 36)
    name = data.get("name") or ocpi_id
    street = _text(data, "address", errors, 200)
    city = _text(data, "city", errors, 100)
    postal_code = str(data.get("postal_code") or "")[:20]
    country = str(data.get("country") or "")
    if len(country) not in (2, 3):
        errors["country"] = ["An ISO 3166 country code."]
    zone = data.get("time_zone")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = ["An IANA time zone, e.g. Europe/Berlin."]
    evses = data.get("evses") or []
    evse_ids = []
    if not isinstance(evses, list):
        errors["evses"] = ["A list of EVSE objects."]
        evses = []
    metering: dict[str, dict[str, Any]] = {}
    for position, evse in enumerate(evses):
        evse_id = evse.get("evse_id") if isinstance(evse, dict) else None
        if not isinstance(evse_id, str) or not evse_id or len(evse_id) > 48:
            errors[f"evses.{position}.evse_id"] = ["Each EVSE needs its EVSE ID (48 at most)."]
        elif evse_id in evse_ids:
            errors[f"evses.{position}.evse_id"] = [f"{evse_id} appears twice."]
        else:
            evse_ids.append(evse_id)
            metering[evse_id] = _metering_fields(evse, f"evses.{position}", errors)
    if errors:
        raise InvalidInput(errors=errors)
    with transaction.atomic():
        location = (
            Location.objects.select_for_update().filter(operator=operator, ocpi_id=ocpi_id).first()
        )
        created = location is None
        location = location or Location(operator=operator, ocpi_id=ocpi_id)
        location.name = str(name)[:200]
        location.street = street
        location.postal_code = postal_code
        location.city = city
        location.country = country[:2].upper()
        location.time_zone = str(zone)
        location.save()
        elsewhere = EVSE.objects.filter(evse_id__in=evse_ids).exclude(location=location)
        if elsewhere.exists():
            raise StateConflict(
                "EVSE "
                + ", ".join(elsewhere.values_list("evse_id", flat=True))
                + " belongs to another location."
            )
        known = set(location.evses.values_list("evse_id", flat=True))
        EVSE.objects.bulk_create(
            [EVSE(location=location, evse_id=e) for e in evse_ids if e not in known]
        )
        for evse in location.evses.filter(evse_id__in=[e for e in evse_ids if metering[e]]):
            for name, value in metering[evse.evse_id].items():
                setattr(evse, name, value)
            evse.save(update_fields=list(metering[evse.evse_id]))
    return location, created


def _metering_fields(evse: dict, path: str, errors: dict) -> dict[str, Any]:
    """The Eichrecht settings an EVSE object may carry (extensions of OCPI's EVSE)."""
    fields: dict[str, Any] = {}
    for name in METERING_FLAGS:
        if name in evse:
            if not isinstance(evse[name], bool):
                errors[f"{path}.{name}"] = ["true or false."]
            else:
                fields[name] = evse[name]
    if "meter_public_key" in evse:
        key = evse["meter_public_key"]
        if not isinstance(key, str) or (key.strip() and key_bytes(key) is None):
            errors[f"{path}.meter_public_key"] = ["The meter's public key in hex or base64 (DER)."]
        else:
            fields["meter_public_key"] = key.strip()
    return fields


def export_location(location: Location) -> dict:
    """The location as OCPI 2.2.1 Location JSON (the fields this back-office keeps)."""
    return {
        "id": location.ocpi_id or str(location.pk),
        "name": location.name,
        "address": location.street,
        "city": location.city,
        "postal_code": location.postal_code,
        "country": location.country,
        "time_zone": location.time_zone,
        "evses": [
            {
                "uid": e.evse_id,
                "evse_id": e.evse_id,
                "calibration_law_relevant": e.calibration_law_relevant,
                "clock_legally_relevant": e.clock_legally_relevant,
                "meter_public_key": e.meter_public_key,
            }
            for e in location.evses.all()
        ],
    }
