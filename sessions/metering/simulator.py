"""A simulated calibrated meter that signs OCMF records, for the demo and the tests.

It signs like a charger does (the payload's UTF-8 bytes, ECDSA, DER signature in hex); its
private key never leaves the process that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import simplejson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# OCMF's name of each curve the meter may sign with.
CURVES = {
    "secp192r1": ec.SECP192R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
}


def ocmf_time(moment: datetime, status: str = "S") -> str:
    """An OCMF timestamp: milliseconds after a comma, the offset without a colon, the status."""
    text = moment.isoformat(timespec="milliseconds").replace(".", ",")
    return f"{text[:-3]}{text[-2:]} {status}"


@dataclass
class SimulatedMeter:
    """A meter with its own key pair and record counter (pagination in the T context)."""

    serial: str
    curve: str = "secp256r1"
    next_page: int = 1
    _key: ec.EllipticCurvePrivateKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = ec.generate_private_key(CURVES[self.curve]())

    @property
    def public_key_hex(self) -> str:
        """The public key as printed on a meter: DER SubjectPublicKeyInfo, upper-case hex."""
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return der.hex().upper()

    def sign(self, payload: str) -> str:
        """The OCMF string of a payload text: header, payload, signature section."""
        signature = self._key.sign(payload.encode(), ec.ECDSA(hashes.SHA256()))
        sign_section = simplejson.dumps(
            {"SA": f"ECDSA-{self.curve}-SHA256", "SD": signature.hex().upper()},
            separators=(",", ":"),
        )
        return f"OCMF|{payload}|{sign_section}"

    def record(
        self,
        *,
        moment: datetime,
        reason: str,
        wh: int,
        identification: str = "",
        status: str = "G",
        error_flags: str = "",
        time_status: str = "S",
        page: int | None = None,
    ) -> str:
        """One signed record with one reading of the loss-compensated import register, in Wh."""
        page = self.next_page if page is None else page
        self.next_page = page + 1
        payload = {
            "FV": "1.0",
            "GI": "CPO Portal simulated charger",
            "GS": self.serial,
            "GV": "1.0",
            "PG": f"T{page}",
            "MV": "Simulated",
            "MM": "SIM-1",
            "MS": self.serial,
            "MF": "1.0",
            "IS": bool(identification),
            "IL": "VERIFIED" if identification else "NONE",
            "IF": ["RFID_PLAIN"] if identification else [],
            "IT": "ISO14443" if identification else "NONE",
            "ID": identification,
            "RD": [
                {
                    "TM": ocmf_time(moment, time_status),
                    "TX": reason,
                    "RV": Decimal(wh),
                    "RI": "01-00:B2.08.00",
                    "RU": "Wh",
                    "RT": "AC",
                    "EF": error_flags,
                    "ST": status,
                }
            ],
        }
        return self.sign(simplejson.dumps(payload, use_decimal=True, separators=(",", ":")))

    def transaction(
        self, *, start: datetime, end: datetime, start_wh: int, end_wh: int, identification=""
    ) -> tuple[str, str]:
        """The begin and the end record of one charging transaction."""
        begin = self.record(moment=start, reason="B", wh=start_wh, identification=identification)
        finish = self.record(moment=end, reason="E", wh=end_wh, identification=identification)
        return begin, finish
