"""Signed meter data as the CPMS sends it: OCPI 2.2.1 `signed_data` on a CDR, or OCMF strings
on a native record. Every string is kept exactly as received (never parsed and re-written)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessions.metering.verification import OCMF_METHOD, SignedMeterInput, SignedRecord

MAX_RECORDS = 50
MAX_RECORD_LENGTH = 20_000
MAX_KEY_LENGTH = 2_000
MAX_URL_LENGTH = 512


def _text(value: Any, path: str, errors: dict, *, limit: int, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            errors.setdefault(path, []).append("This field is required.")
        return ""
    if not isinstance(value, str):
        errors.setdefault(path, []).append("Must be a string.")
        return ""
    if len(value) > limit:
        errors.setdefault(path, []).append(f"Must be at most {limit} characters.")
        return ""
    return value


def read_ocpi_signed_data(
    value: Any, path: str = "signed_data"
) -> tuple[SignedMeterInput | None, dict[str, list[str]]]:
    """An OCPI SignedData object: encoding_method, public_key, signed_values, url."""
    errors: dict[str, list[str]] = {}
    if value is None:
        return None, errors
    if not isinstance(value, Mapping):
        return None, {path: ["Must be an OCPI SignedData object."]}
    method = _text(
        value.get("encoding_method"), f"{path}.encoding_method", errors, limit=36, required=True
    )
    version = value.get("encoding_method_version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**31
    ):
        errors.setdefault(f"{path}.encoding_method_version", []).append("Must be an integer.")
        version = None
    key = _text(value.get("public_key"), f"{path}.public_key", errors, limit=MAX_KEY_LENGTH)
    url = _text(value.get("url"), f"{path}.url", errors, limit=MAX_URL_LENGTH)
    values = value.get("signed_values")
    records: list[SignedRecord] = []
    if not isinstance(values, list) or not values:
        errors.setdefault(f"{path}.signed_values", []).append(
            "Give at least one signed value (nature, signed_data)."
        )
    elif len(values) > MAX_RECORDS:
        errors.setdefault(f"{path}.signed_values", []).append(
            f"At most {MAX_RECORDS} signed values."
        )
    else:
        for i, item in enumerate(values):
            item_path = f"{path}.signed_values[{i}]"
            if not isinstance(item, Mapping):
                errors.setdefault(item_path, []).append("Must be an OCPI SignedValue object.")
                continue
            records.append(
                SignedRecord(
                    signed_data=_text(
                        item.get("signed_data"),
                        f"{item_path}.signed_data",
                        errors,
                        limit=MAX_RECORD_LENGTH,
                        required=True,
                    ),
                    nature=_text(item.get("nature"), f"{item_path}.nature", errors, limit=32),
                    plain_data=_text(
                        item.get("plain_data"),
                        f"{item_path}.plain_data",
                        errors,
                        limit=MAX_RECORD_LENGTH,
                    ),
                )
            )
    if errors:
        return None, errors
    return (
        SignedMeterInput(
            encoding_method=method,
            encoding_method_version=version,
            public_key=key,
            url=url,
            records=tuple(records),
        ),
        errors,
    )


def read_native_signed_data(
    data: Mapping[str, Any],
) -> tuple[SignedMeterInput | None, dict[str, list[str]]]:
    """A native record's `signed_data` (the OCPI object) or `ocmf` (one OCMF string or a list
    of them, begin first) with an optional `meter_public_key`."""
    if data.get("signed_data") is not None:
        return read_ocpi_signed_data(data.get("signed_data"))
    value = data.get("ocmf")
    if value is None:
        return None, {}
    errors: dict[str, list[str]] = {}
    strings = value if isinstance(value, list) else [value]
    if not strings or len(strings) > MAX_RECORDS:
        return None, {"ocmf": [f"Give one to {MAX_RECORDS} OCMF strings."]}
    records = []
    for i, text in enumerate(strings):
        path = f"ocmf[{i}]" if isinstance(value, list) else "ocmf"
        records.append(
            SignedRecord(
                signed_data=_text(text, path, errors, limit=MAX_RECORD_LENGTH, required=True)
            )
        )
    key = _text(data.get("meter_public_key"), "meter_public_key", errors, limit=MAX_KEY_LENGTH)
    if errors:
        return None, errors
    return SignedMeterInput(encoding_method=OCMF_METHOD, records=tuple(records), public_key=key), {}
