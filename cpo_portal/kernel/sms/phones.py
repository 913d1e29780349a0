"""Phone numbers as the SMS gateways want them: E.164 (+4915112345678)."""

from __future__ import annotations

import phonenumbers
from django.utils.translation import gettext as _

from cpo_portal.kernel.errors import InvalidInput

MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def normalise_phone(number: str, default_region: str = "", *, field: str = "phone") -> str:
    """A mobile number in E.164; one written without its country code is read as one of the
    default region (ISO 3166 code). Anything else is refused with the reason."""
    text = (number or "").strip()
    try:
        parsed = phonenumbers.parse(text, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise InvalidInput(
            _(
                "“%(number)s” is not a phone number; write it with its country code, "
                "e.g. +49 151 23456789."
            )
            % {"number": text},
            field=field,
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(
            _("“%(number)s” is not a valid phone number.") % {"number": text}, field=field
        )
    if phonenumbers.number_type(parsed) not in MOBILE_TYPES:
        raise InvalidInput(
            _("“%(number)s” is not a mobile number; text messages need one.") % {"number": text},
            field=field,
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
