"""The signed data as a file for the S.A.F.E. Transparenzsoftware, which drivers use to verify
what they were billed: one XML `value` per signed record, the OCMF text unchanged, with the
meter's public key."""

from __future__ import annotations

from lxml import etree

from sessions.models import ChargingSession, SignedMeterData

CONTENT_TYPE = "application/xml"


def public_key_for(meter_data: SignedMeterData) -> str:
    """The key the data verify with: the EVSE's registered one, else the one sent with them."""
    registered = "".join(meter_data.session.evse.meter_public_key.split())
    return registered or "".join(meter_data.public_key.split())


def transparency_file(meter_data: SignedMeterData) -> bytes:
    """The Transparenzsoftware's XML: begin and end records of one transaction, each with the
    public key; every OCMF string exactly as stored."""
    root = etree.Element("values")
    values = list(meter_data.values.order_by("position"))
    key = public_key_for(meter_data)
    for index, value in enumerate(values):
        element = etree.SubElement(root, "value", transactionId=str(meter_data.session_id))
        if len(values) > 1 and index == 0:
            element.set("context", "Transaction.Begin")
        elif len(values) > 1 and index == len(values) - 1:
            element.set("context", "Transaction.End")
        signed = etree.SubElement(
            element, "signedData", format=meter_data.encoding_method.upper(), encoding="plain"
        )
        signed.text = value.signed_data
        if key:
            etree.SubElement(element, "publicKey", encoding="plain").text = key
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def download(meter_data: SignedMeterData) -> tuple[bytes, str, str]:
    """The file as a door hands it out: its bytes, its name and its content type."""
    return transparency_file(meter_data), file_name(meter_data.session), CONTENT_TYPE


def file_name(session: ChargingSession) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in session.source_id)
    return f"signed-meter-data-{safe}.xml"
