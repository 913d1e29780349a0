"""Factur-X: the e-invoice XML embedded in the document's PDF, with the Factur-X XMP metadata.

The `factur-x` package attaches the XML as `factur-x.xml` (AFRelationship Data), writes the
XMP extension schema of the Factur-X EN 16931 profile and marks the PDF as PDF/A-3B in its
metadata. Before that, the PDF gets the PDF/A output intent: an sRGB ICC profile made by
LittleCMS (in Pillow), so nothing is shipped or fetched. The PDF xhtml2pdf renders is not
checked for every other PDF/A-3 requirement — docs/einvoices.md says what that means.
"""

from __future__ import annotations

import io
from functools import lru_cache

import facturx
from PIL import ImageCms
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

from invoicing.documents.models import Document

SRGB = "sRGB IEC61966-2.1"


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC colour profile the PDF's colours are meant in (the output intent's)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_output_intent(pdf: bytes) -> bytes:
    """The PDF with a PDF/A output intent (GTS_PDFA1) carrying the embedded sRGB profile."""
    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    profile = DecodedStreamObject()
    profile.set_data(srgb_profile())
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject(SRGB),
            NameObject("/RegistryName"): TextStringObject("http://www.color.org"),
            NameObject("/Info"): TextStringObject(SRGB),
            NameObject("/DestOutputProfile"): writer._add_object(profile),
        }
    )
    writer.root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def hybrid_pdf(*, pdf: bytes, xml: bytes, document: Document) -> bytes:
    """The PDF with the XML embedded as a Factur-X EN 16931 invoice, sRGB as output intent."""
    supplier = document.profile.supplier
    metadata = {
        "author": supplier.get("legal_name") or supplier.get("name", ""),
        "keywords": "Factur-X, EN 16931",
        "title": f"{document.get_kind_display()} {document.display_number}",
        "subject": f"{document.get_kind_display()} {document.display_number}",
    }
    return facturx.generate_from_binary(
        with_output_intent(pdf),
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # validated before issue, with the schema and every rule set
        pdf_metadata=metadata,
        lang=document.language or "en",
        xmp_compression=False,  # PDF/A wants the catalog's metadata stream unfiltered
    )
