"""The EPC QR code (GiroCode, EPC069-12) that banking apps scan to pay an open EUR invoice."""

from __future__ import annotations

from decimal import Decimal

import segno

from cpo_portal.kernel.money import round_money

# EPC069-12: amounts from 0.01 to 999,999,999.99 EUR; name 70 characters, remittance 140.
MAX_AMOUNT = Decimal("999999999.99")


def epc_payload(*, name: str, iban: str, bic: str, amount: Decimal, remittance: str) -> str:
    """The EPC069-12 text: version 002 (the BIC may be left out inside the EEA), UTF-8,
    SEPA credit transfer, the amount in EUR and the document number as unstructured remittance."""
    amount = round_money(Decimal(amount), "EUR")
    if not (Decimal("0.01") <= amount <= MAX_AMOUNT):
        raise ValueError(f"An EPC QR code carries 0.01 to {MAX_AMOUNT} EUR, not {amount}.")
    lines = [
        "BCD",
        "002",
        "1",  # UTF-8
        "SCT",
        "".join(bic.split()).upper(),
        " ".join(name.split())[:70],
        "".join(iban.split()).upper(),
        f"EUR{amount}",
        "",  # purpose code
        "",  # structured creditor reference (we quote the document number instead)
        remittance[:140],
    ]
    return "\n".join(lines)


def qr_data_uri(payload: str) -> str:
    """The code as a PNG data URI the PDF template embeds (error correction M as EPC asks)."""
    code = segno.make(payload, error="m", micro=False, boost_error=False, encoding="utf-8")
    return code.png_data_uri(scale=4, border=4)
