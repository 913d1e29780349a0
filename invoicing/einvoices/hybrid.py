"""Factur-X: the e-invoice XML embedded in the document's PDF, with the Factur-X XMP metadata.

The `factur-x` package attaches the XML as `factur-x.xml` (AFRelationship Data), writes the
XMP extension schema of the Factur-X EN 16931 profile and marks the PDF as PDF/A-3B in its
metadata. The PDF xhtml2pdf renders is not checked for every PDF/A-3 requirement (output intent,
embedded colour profile, all fonts embedded) — docs/einvoices.md says what that means.
"""

from __future__ import annotations

import facturx

from invoicing.documents.models import Document


def hybrid_pdf(*, pdf: bytes, xml: bytes, document: Document) -> bytes:
    """The PDF with the XML embedded as a Factur-X EN 16931 invoice."""
    supplier = document.profile.supplier
    metadata = {
        "author": supplier.get("legal_name") or supplier.get("name", ""),
        "keywords": "Factur-X, EN 16931",
        "title": f"{document.get_kind_display()} {document.display_number}",
        "subject": f"{document.get_kind_display()} {document.display_number}",
    }
    return facturx.generate_from_binary(
        pdf,
        xml,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # validated before issue, with the schema and every rule set
        pdf_metadata=metadata,
        lang=document.language or "en",
        xmp_compression=False,  # PDF/A wants the catalog's metadata stream unfiltered
    )
