"""PDFs of issued documents: rendered from Django templates with xhtml2pdf, stored with SHA-256.

Everything a document shows comes from the document itself and its frozen issuing profile
(supplier details and content options as they were at issue), never from the live settings.
Fonts, logos and images reach the renderer only through `link_callback`, which maps the
project's static and media URLs to files and refuses everything else; a resource policy that
forbids the network and confines local reads to those roots backs it up.

Rendering runs in Celery tasks (`invoicing.tasks.render_document_pdf`); requests only ever serve
the stored file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, npgettext
from PIL import Image, UnidentifiedImageError
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from cpo_portal.kernel.formatting import (
    amount,
    duration_text,
    energy_text,
    local_span_text,
    long_date,
    meter_readings_text,
    money,
    quantity_text,
    rate_text,
    short_date,
    unit_price_text,
)
from cpo_portal.kernel.money import vat_amount
from invoicing.documents.direct_debit import direct_debit_of
from invoicing.documents.models import Document, DocumentLine, DocumentStatus, RecipientCorrection
from invoicing.documents.receipts import asks_for_payment, is_simplified
from invoicing.einvoices.hybrid import hybrid_pdf
from invoicing.einvoices.models import EInvoice
from invoicing.output import receipt_links
from invoicing.output.girocode import epc_payload, qr_data_uri
from invoicing.output.models import DocumentFile, RenderFailure
from invoicing.setup.models import DocumentKind
from sessions.metering.verification import TRANSPARENCY_SOFTWARE_URL
from sessions.models import ChargingSession, SessionChargeLine, SignedMeterData

logger = logging.getLogger(__name__)

# Same document, same template: same bytes. Without this ReportLab writes the render time and
# a random file ID into every PDF, and re-rendering could not be recognised by its SHA-256.
rl_config.invariant = 1

TEMPLATE = "invoicing/pdf/document.html"
# An image drawn by us (the EPC QR code) travels inline as base64 PNG, never as a URL.
INLINE_PNG = "data:image/png;base64,"
INLINE_PNG_BODY = re.compile(r"[A-Za-z0-9+/]+={0,2}")
FONTS = {
    "regular": "invoicing/fonts/DejaVuSans.ttf",
    "bold": "invoicing/fonts/DejaVuSans-Bold.ttf",
}
# xhtml2pdf lays a table out cell by cell and long tables cost more than linearly, so the
# breakdown is cut into tables of this many sessions that read as one under a page header.
BREAKDOWN_SESSIONS_PER_TABLE = 10
STATIC_SUFFIXES = frozenset({".ttf", ".otf", ".png", ".jpg", ".jpeg"})
MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 4096 * 4096
# The logo box in the header, in points (1 mm = 2.835 pt).
LOGO_BOX = (170.0, 51.0)
MAX_RENDER_SECONDS = 300

# Directional formatting characters (LRE, RLE, PDF). DejaVu carries glyphs for them, unlike the
# newer isolates, and xhtml2pdf drops them when drawing after using them to order the line.
LRE, RLE, PDF_MARK, RLM = "\u202a", "\u202b", "\u202c", "\u200f"


class RenderError(Exception):
    """A PDF could not be rendered; the message says why in staff terms."""


class UnsafeResourceError(RenderError):
    """A template asked for a file outside static/media or for a URL; nothing was read."""


# --- resources: fonts, logos, images ----------------------------------------------------------


def static_roots() -> list[Path]:
    """The directories static resources may come from: the project's static/ and STATIC_ROOT."""
    roots = [
        Path(str(entry[1] if isinstance(entry, tuple | list) else entry))
        for entry in settings.STATICFILES_DIRS
    ]
    if settings.STATIC_ROOT:
        roots.append(Path(settings.STATIC_ROOT))
    return roots


def media_root() -> Path | None:
    """MEDIA_ROOT when media lives on this machine; None with remote storage (S3)."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.location)
    return None


def static_url(name: str) -> str:
    """The URL a template uses for a static file; `link_callback` maps it back."""
    return f"{settings.STATIC_URL}{name}"


def media_url(name: str) -> str:
    """The URL a template uses for a media file (the logo); `link_callback` maps it back."""
    return f"{settings.MEDIA_URL}{name}"


def _prefix(url: str) -> str:
    """A STATIC_URL/MEDIA_URL as a path prefix with one leading and one trailing slash."""
    path = urlsplit(url).path if "://" in url else url
    return "/" + path.strip("/") + "/"


def _relative_name(path: str, prefix: str) -> str | None:
    """`path` below `prefix` as a clean relative name, or None when it is not below it."""
    candidate = "/" + path.lstrip("/")
    if not candidate.startswith(prefix):
        return None
    name = candidate[len(prefix) :]
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        raise UnsafeResourceError(f"{path!r} is not a plain file name below {prefix}")
    return str(PurePosixPath(*parts))


def _inside(path: Path, root: Path) -> bool:
    """Whether `path`, with symbolic links followed, lies within `root`."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def link_callback(uri: str, rel: str | None = None) -> str:
    """Map a static/ or media/ URL to a file the renderer may read; refuse anything else.

    Refusal raises: xhtml2pdf keeps the original URI when a callback returns nothing, so a
    callback that merely declined would let the renderer fetch it after all.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise UnsafeResourceError("empty resource reference")
    uri = uri.strip()
    if uri.startswith(INLINE_PNG) and INLINE_PNG_BODY.fullmatch(uri[len(INLINE_PNG) :]):
        return uri  # the EPC QR code we drew ourselves: nothing is read or fetched
    if any(unicodedata.category(c) == "Cc" for c in uri) or "\\" in uri or "%" in uri:
        raise UnsafeResourceError(f"{uri[:120]!r} contains characters a file name never has")
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc or uri.startswith("//"):
        raise UnsafeResourceError(f"{uri[:120]!r}: documents never fetch URLs")
    if parts.query or parts.fragment:
        raise UnsafeResourceError(f"{uri[:120]!r}: query strings and fragments are not files")
    static_name = _relative_name(parts.path, _prefix(settings.STATIC_URL))
    if static_name is not None:
        return str(_static_file(static_name))
    media_name = _relative_name(parts.path, _prefix(settings.MEDIA_URL))
    if media_name is not None:
        return _media_file(media_name)
    raise UnsafeResourceError(f"{uri[:120]!r} is neither a static nor a media file")


def _static_file(name: str) -> Path:
    if PurePosixPath(name).suffix.lower() not in STATIC_SUFFIXES:
        raise UnsafeResourceError(f"static/{name} is not a font or an image")
    for root in static_roots():
        candidate = root / name
        if candidate.is_file() and _inside(candidate, root):
            return candidate.resolve()
    raise RenderError(f"static file {name} is missing (run collectstatic?)")


def _media_file(name: str) -> str:
    if PurePosixPath(name).suffix.lower() not in MEDIA_SUFFIXES:
        raise UnsafeResourceError(f"media/{name} is not an image")
    root = media_root()
    if root is not None:
        try:
            candidate = Path(default_storage.path(name))
        except SuspiciousFileOperation as exc:
            raise UnsafeResourceError(f"media/{name} lies outside MEDIA_ROOT") from exc
        if not _inside(candidate, root):
            raise UnsafeResourceError(f"media/{name} lies outside MEDIA_ROOT")
        if not candidate.is_file():
            raise RenderError(f"media file {name} is missing")
        return str(candidate.resolve())
    # Remote storage: the bytes, checked as a logo, handed over inline; no URL is fetched.
    logo = load_logo(name)
    return f"data:{logo.mime_type};base64,{base64.b64encode(logo.data).decode()}"


def resource_policy() -> ResourceAccessPolicy:
    """xhtml2pdf's own guard behind `link_callback`: no network, local reads in our roots."""
    roots = [*static_roots()]
    if (root := media_root()) is not None:
        roots.append(root)
    return ResourceAccessPolicy.server(
        base_dir=None,
        extra_roots=tuple(roots),
        allow_remote=False,
        max_render_seconds=MAX_RENDER_SECONDS,
        # A monthly invoice with thousands of sessions is megabytes of HTML.
        max_document_bytes=256 * 1024 * 1024,
    )


@dataclass(frozen=True)
class Logo:
    data: bytes
    mime_type: str
    width: int
    height: int


@lru_cache(maxsize=32)
def load_logo(name: str) -> Logo:
    """Read and check a logo from media storage (cached: a stored name never changes content)."""
    try:
        with default_storage.open(name, "rb") as handle:
            data = handle.read(LOGO_MAX_BYTES + 1)
    except (OSError, SuspiciousFileOperation) as exc:
        raise RenderError(f"the logo {name} cannot be read: {exc}") from exc
    if len(data) > LOGO_MAX_BYTES:
        raise RenderError(f"the logo {name} is larger than {LOGO_MAX_BYTES // 1024} KB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            if kind not in LOGO_FORMATS:
                raise RenderError(f"the logo {name} is {kind or 'not an image'}, not PNG or JPEG")
            if width * height > LOGO_MAX_PIXELS:
                raise RenderError(f"the logo {name} has more than {LOGO_MAX_PIXELS} pixels")
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RenderError(f"the logo {name} is not a readable image: {exc}") from exc
    return Logo(data=data, mime_type=LOGO_FORMATS[kind], width=width, height=height)


def check_fonts() -> dict[str, str]:
    """The font URLs for the template; a missing font fails the render instead of Helvetica."""
    urls = {}
    for weight, name in FONTS.items():
        _static_file(name)
        urls[weight] = static_url(name)
    return urls


# --- labels (numbers, amounts, durations, dates: cpo_portal/kernel/formatting.py) ----------


# Units that agree with their quantity (kWh is a symbol and never changes).
UNIT_FORMS = {
    DocumentLine.Unit.MINUTE: lambda n: npgettext("unit", "minute", "minutes", n),
    DocumentLine.Unit.PACKAGE: lambda n: npgettext("unit", "package", "packages", n),
    DocumentLine.Unit.MONTH: lambda n: npgettext("unit", "month", "months", n),
}


def plural_count(quantity: Decimal) -> int:
    """The count that picks a quantity's plural form: a whole number is itself; a fraction
    takes the "other" form (CLDR), which 100 selects in every catalogue's plural formula."""
    quantity = abs(Decimal(quantity))
    return int(quantity) if quantity == quantity.to_integral_value() else 100


def unit_label(unit: str, quantity: Decimal | None = None) -> str:
    """The unit's name, agreeing with the quantity when one is given: 1 minute, 6 packages."""
    if quantity is not None and unit in UNIT_FORMS:
        return UNIT_FORMS[unit](plural_count(quantity))
    try:
        return str(DocumentLine.Unit(unit).label)
    except ValueError:
        return unit


def service_label(service: str, description: str) -> str:
    """Services are named in the document's language; the services label through gettext, so
    the default "EV Charging Services" is translated and an operator's own wording is kept."""
    if service == DocumentLine.Service.CHARGING_SERVICES:
        return _(description) if description else ""
    try:
        return str(DocumentLine.Service(service).label)
    except ValueError:
        return description


def _first_strong(text: str) -> str | None:
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind == "L":
            return "L"
        if kind in ("R", "AL"):
            return "R"
    return None


class Bidi:
    """Keeps numbers, dates and left-to-right names whole and in order inside right-to-left text.

    In an Arabic line "2026-03-01" would otherwise be drawn as 01-03-2026 (the bidirectional
    algorithm treats digits after Arabic letters as Arabic numbers). Left-to-right documents get
    their text unchanged.
    """

    def __init__(self, rtl: bool) -> None:
        self.rtl = rtl

    def ltr(self, text: object) -> str:
        """A token that always reads left to right: amounts, dates, numbers, IBANs.

        The trailing right-to-left mark stops the token's Latin letters from claiming a number
        that follows ("17 kWh · 1 h" would otherwise draw the 1 inside the Latin run).
        """
        text = str(text)
        return f"{LRE}{text}{PDF_MARK}{RLM}" if self.rtl and text else text

    def auto(self, text: object) -> str:
        """Free text (names, addresses) in the direction of its first strong letter."""
        text = str(text or "")
        if not self.rtl or not text:
            return text
        return f"{LRE}{text}{PDF_MARK}{RLM}" if _first_strong(text) == "L" else text


# --- what the template shows ---------------------------------------------------------------------


@dataclass
class BreakdownSession:
    """One session of the breakdown: a header cell and one line per component in each column.

    xhtml2pdf's cost grows with every line of text it lays out, so a session is one table row
    whose cells hold one line per component, and quantity, unit and unit price share a column
    ("51,754 kWh x 0,55"): half the text lines of six columns.
    """

    when: str
    details: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    calculations: list[str] = field(default_factory=list)
    subtotals: list[str] = field(default_factory=list)

    def cells(self, *, newlines: bool) -> list[str]:
        """The four cells; lines joined by newlines (white-space: pre-line, a fifth faster to
        lay out) or, where Arabic letters must join across them, by <br/>."""
        columns = [[self.when, *self.details], self.services, self.calculations, self.subtotals]
        if newlines:
            return ["\n".join(column) for column in columns]
        return [
            mark_safe("<br/>".join(escape(line) for line in column))  # noqa: S308 - escaped
            for column in columns
        ]


def short_unit(unit: str, quantity: Decimal) -> str:
    """The unit as it follows a quantity in the breakdown: 12 min, 30,600 kWh, 1 package."""
    if unit == DocumentLine.Unit.MINUTE:
        return _("min")
    return unit_label(unit, quantity)


def _signed_meter_data(document: Document) -> dict | None:
    """Where the driver gets the signed meter data: the file's link and QR code for a document
    of one session, the portal for several."""
    signed = list(
        SignedMeterData.objects.filter(
            session_id__in=document.billed_sessions.values("session_id")
        )[:2]
    )
    if not signed:
        return None
    if len(signed) > 1:
        return {"url": "", "qr": "", "readings": "", "software": TRANSPARENCY_SOFTWARE_URL}
    (meter_data,) = signed
    url = receipt_links.signed_data_url(meter_data.session_id)
    readings = (
        meter_readings_text(meter_data.meter_serial, meter_data.start_kwh, meter_data.end_kwh)
        if meter_data.end_kwh is not None and not document.profile.content.get("hide_energy")
        else ""
    )
    return {
        "url": url,
        "qr": qr_data_uri(url) if url.startswith("http") else "",
        "readings": readings,
        "software": TRANSPARENCY_SOFTWARE_URL,
    }


def _breakdown(document: Document, content: dict, bidi: Bidi) -> Iterator[list[list[str]]]:
    """Each billed session with its components, in tables of BREAKDOWN_SESSIONS_PER_TABLE."""
    sign = Decimal("-1") if document.kind == DocumentKind.CREDIT_NOTE else Decimal("1")
    hide_energy = content.get("hide_energy", False)
    detailed = content.get("services_table") == "detailed"
    show_energy = detailed and content.get("show_energy") and not hide_energy
    show_duration = detailed and content.get("show_duration")
    label = _(content.get("services_label") or "EV Charging Services")
    session_ids = document.billed_sessions.values("session_id")
    sessions = (
        ChargingSession.objects.filter(pk__in=session_ids)
        .order_by("started_at", "id")
        .values_list(
            "id",
            "started_at",
            "ended_at",
            "energy_kwh",
            "evse__evse_id",
            "evse__location__time_zone",
        )
    )
    lines = (
        SessionChargeLine.objects.filter(session_id__in=session_ids)
        .order_by("session_id", "position")
        .values_list("session_id", "component", "unit", "unit_price", "quantity", "net")
    )
    meters = {
        session_id: (serial, start, end)
        for session_id, serial, start, end in SignedMeterData.objects.filter(
            session_id__in=session_ids, end_kwh__isnull=False
        ).values_list("session_id", "meter_serial", "start_kwh", "end_kwh")
    }
    by_session: dict[int, list[tuple]] = {}
    for row in lines.iterator(chunk_size=5000):
        by_session.setdefault(row[0], []).append(row[1:])
    chunk: list[list[str]] = []
    for session_id, started_at, ended_at, energy, evse_id, time_zone in sessions.iterator(
        chunk_size=2000
    ):
        facts = []
        if show_energy:
            facts.append(bidi.ltr(energy_text(energy)))
        if show_duration and ended_at:
            facts.append(bidi.auto(duration_text(int((ended_at - started_at).total_seconds()))))
        entry = BreakdownSession(
            # The clock at the charger, its zone named (kernel/periods.py: which clock).
            when=bidi.ltr(local_span_text(started_at, ended_at, time_zone)),
            details=[bidi.ltr(evse_id), " · ".join(facts)] if facts else [bidi.ltr(evse_id)],
        )
        if session_id in meters and not hide_energy:
            entry.details.append(bidi.ltr(meter_readings_text(*meters[session_id])))
        components = by_session.get(session_id, [])
        if hide_energy:
            # One line per session: the services label and its price, no kWh anywhere.
            net = sum((row[4] for row in components), Decimal("0"))
            entry.services.append(bidi.auto(label))
            entry.calculations.append(
                bidi.auto(
                    f"{quantity_text(sign, 'package')} "
                    f"{short_unit(DocumentLine.Unit.PACKAGE, sign)} \u00d7 {money(net)}"
                )
            )
            entry.subtotals.append(bidi.ltr(money(net * sign)))
        else:
            # The session's own charge per component (excl. VAT, rounded to the cent from the
            # exact volume): these add up to the document's net total.
            for component, unit, unit_price, quantity, net in components:
                entry.services.append(service_label(component, ""))
                # auto, not ltr: "94 min x 0,02" in Arabic reads right to left like its words.
                entry.calculations.append(
                    bidi.auto(
                        f"{quantity_text(quantity * sign, unit)} {short_unit(unit, quantity)}"
                        f" \u00d7 {unit_price_text(unit_price)}"
                    )
                )
                entry.subtotals.append(bidi.ltr(money(net * sign)))
        chunk.append(entry.cells(newlines=not bidi.rtl))
        if len(chunk) == BREAKDOWN_SESSIONS_PER_TABLE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def document_title(kind: str, *, cancels: str | None = None) -> str:
    """The document's printed title; a credit note says what it cancels (an invoice's is a
    cancellation invoice, "Stornorechnung", never a "Gutschrift", which is self-billing)."""
    if kind == DocumentKind.CREDIT_NOTE and cancels == DocumentKind.SALES_RECEIPT:
        return _("Cancellation of receipt")
    if kind == DocumentKind.CREDIT_NOTE:
        return _("Cancellation invoice")
    return {
        DocumentKind.INVOICE: _("Invoice"),
        DocumentKind.PRO_FORMA: _("Pro forma invoice"),
        DocumentKind.SALES_RECEIPT: _("Sales receipt"),
        DocumentKind.CREDIT_NOTE: _("Credit note"),
    }[kind]


def _logo(content: dict) -> dict | None:
    name = content.get("logo") or ""
    if not name:
        return None
    logo = load_logo(name)
    scale = min(LOGO_BOX[0] / logo.width, LOGO_BOX[1] / logo.height, 1.0)
    return {
        "url": media_url(name),
        "width": round(logo.width * scale, 1),
        "height": round(logo.height * scale, 1),
    }


def _address_lines(*, name: str, street: str, postal_code: str, city: str, country: str) -> list:
    lines = [name, street, " ".join(part for part in (postal_code, city) if part), country]
    return [line for line in lines if line]


def _direct_debit_notice(document: Document, bidi: Bidi) -> str:
    """An invoice collected under the customer's SEPA mandate announces the debit (the SEPA
    pre-notification): amount, date, account, mandate and creditor identifier."""
    debit = direct_debit_of(document)
    if debit is None:
        return ""
    return _(
        "The amount of %(amount)s will be debited on %(date)s from the account ending "
        "%(last_four)s (mandate %(reference)s, creditor ID %(creditor_id)s)."
    ) % {
        "amount": bidi.ltr(amount(document.outstanding, document.currency)),
        "date": bidi.auto(long_date(document.due_date)),
        "last_four": bidi.ltr(debit.iban_last_four),
        "reference": bidi.ltr(debit.mandate_reference),
        "creditor_id": bidi.ltr(debit.creditor_id),
    }


def line_rows(document: Document, bidi: Bidi, lines: list[DocumentLine] | None = None) -> list:
    """The document's services table as its PDF prints it, in the active language; the portal
    shows these same rows, so the page and the PDF never disagree."""
    currency = document.currency
    rows = []
    for line in document.lines.all() if lines is None else lines:
        description = bidi.auto(service_label(line.service, line.description))
        if line.service == DocumentLine.Service.CHARGING_SERVICES and document.session_count:
            description += " " + bidi.auto(
                ngettext("(%(count)d session)", "(%(count)d sessions)", document.session_count)
                % {"count": document.session_count}
            )
        rows.append(
            {
                "description": description,
                "quantity": bidi.ltr(quantity_text(line.quantity, line.unit)),
                "unit": unit_label(line.unit, line.quantity),
                "unit_price": bidi.ltr(unit_price_text(line.unit_price)),
                "vat_rate": bidi.ltr(rate_text(line.vat_rate)),
                "net": bidi.ltr(money(line.net, currency=currency)),
                "gross": bidi.ltr(
                    money(
                        line.net + vat_amount(line.net, line.vat_rate, currency),
                        currency=currency,
                    )
                ),
            }
        )
    return rows


def document_context(document: Document) -> dict:
    """Everything the template shows, formatted in the active language (the document's)."""
    content = document.profile.content
    supplier = document.profile.supplier
    rtl = translation.get_language_bidi()
    bidi = Bidi(rtl)
    currency = document.currency
    simplified = is_simplified(document)
    hide_energy = bool(content.get("hide_energy"))
    document_lines = list(document.lines.all())
    single_row = all(
        line.service == DocumentLine.Service.CHARGING_SERVICES for line in document_lines
    )
    lines = line_rows(document, bidi, document_lines)
    vat_rows = [
        {
            "rate": bidi.ltr(rate_text(row["rate"])),
            "net": bidi.ltr(money(Decimal(row["net"]), currency=currency)),
            "vat": bidi.ltr(money(Decimal(row["vat"]), currency=currency)),
            "gross": bidi.ltr(money(Decimal(row["gross"]), currency=currency)),
            "note": bidi.auto(row.get("note", "")),
        }
        for row in document.vat_summary
    ]
    supply_vat = [
        {
            "currency": stated["currency"],
            "total": bidi.ltr(amount(Decimal(stated["total_vat"]), stated["currency"])),
            "rows": [
                {
                    "rate": bidi.ltr(rate_text(row["rate"])),
                    "vat": bidi.ltr(amount(Decimal(row["vat"]), stated["currency"])),
                }
                for row in stated["rows"]
            ],
            "rate": bidi.ltr(f"1 {currency} = {stated['rate']} {stated['currency']}"),
            "date": bidi.auto(long_date(date.fromisoformat(stated["rate_date"]))),
            "source": bidi.auto(stated["source"]),
        }
        for stated in document.supply_currency_vat
    ]
    facts = []
    if content.get("show_energy") and not hide_energy:
        facts.append((_("Total energy"), bidi.ltr(energy_text(document.total_energy_kwh))))
    if content.get("show_duration"):
        facts.append(
            (_("Total duration"), bidi.auto(duration_text(document.total_duration_seconds)))
        )
    if facts and document.session_count:
        facts.insert(0, (_("Charging sessions"), bidi.ltr(str(abs(document.session_count)))))

    recipient = _address_lines(
        # An ad-hoc driver's name is their e-mail address: a receipt needs none on its face.
        name="" if document.recipient_name == document.recipient_email else document.recipient_name,
        street=document.recipient_street,
        postal_code=document.recipient_postal_code,
        city=document.recipient_city,
        country=document.recipient_country,
    )
    recipient_ids = []
    if document.recipient_company_registration_id:
        recipient_ids.append(
            (_("Company registration"), bidi.ltr(document.recipient_company_registration_id))
        )
    if document.recipient_vat_id:
        recipient_ids.append((_("VAT ID"), bidi.ltr(document.recipient_vat_id)))
    supplier_ids = []
    # The VAT ID of the supply's country (documents issued before tax rules: the profile's).
    supplier_vat = document.supplier_vat_id or supplier.get("vat_id")
    if supplier_vat:
        supplier_ids.append((_("VAT ID"), bidi.ltr(supplier_vat)))
    if supplier.get("tax_number"):
        supplier_ids.append((_("Tax number"), bidi.ltr(supplier["tax_number"])))

    credited = document.credited_document if document.credited_document_id else None
    # A credit note, a 0.00 document, a simplified or paid-on-the-spot receipt asks for nothing.
    payable = asks_for_payment(document)
    breakdown = (
        _breakdown(document, content, bidi)
        if content.get("breakdown_page") and document.session_count and not simplified
        else None
    )
    return {
        "document": document,
        "language": document.language,
        "rtl": rtl,
        "start": "right" if rtl else "left",
        "end": "left" if rtl else "right",
        "fonts": check_fonts(),
        "logo": _logo(content),
        "title": document_title(document.kind, cancels=credited.kind if credited else None),
        "cancels_receipt": bool(credited) and credited.kind == DocumentKind.SALES_RECEIPT,
        "number": bidi.ltr(document.display_number),
        "issue_date": bidi.auto(long_date(document.issue_date)),
        "due_date": bidi.auto(long_date(document.due_date)) if payable else "",
        "period": bidi.ltr(
            short_date(document.period_start)
            if document.period_start == document.period_end
            else f"{short_date(document.period_start)} \u2013 {short_date(document.period_end)}"
        ),
        "delivery_country": bidi.auto(document.delivery_country)
        if content.get("show_country") and document.delivery_country
        else "",
        "supplier_lines": [
            bidi.auto(line)
            for line in _address_lines(
                name=supplier.get("legal_name") or supplier.get("name", ""),
                street=supplier.get("street", ""),
                postal_code=supplier.get("postal_code", ""),
                city=supplier.get("city", ""),
                country=supplier.get("country", ""),
            )
        ],
        "supplier_ids": supplier_ids,
        "supplier_contact": [
            bidi.ltr(value) for value in (supplier.get("email"), supplier.get("phone")) if value
        ],
        "supplier_footer": bidi.auto(supplier.get("legal_name") or supplier.get("name", "")),
        "show_recipient": not simplified and bool(recipient),
        "recipient_lines": [bidi.auto(line) for line in recipient],
        "recipient_ids": recipient_ids,
        "simplified": simplified,
        "pro_forma": document.kind == DocumentKind.PRO_FORMA,
        "credited_number": bidi.ltr(credited.display_number) if credited else "",
        "credited_date": bidi.auto(long_date(credited.issue_date)) if credited else "",
        "reason": [bidi.auto(line) for line in document.reason.splitlines()],
        "facts": facts,
        "single_row": single_row,
        "lines": lines,
        "vat_rows": vat_rows,
        "supply_vat": supply_vat,
        "currency": currency,
        "total_net": bidi.ltr(amount(document.total_net, currency)),
        "total_vat": bidi.ltr(amount(document.total_vat, currency)),
        "total_gross": bidi.ltr(amount(document.total_gross, currency)),
        "payable": payable,
        "direct_debit": _direct_debit_notice(document, bidi) if payable else "",
        "paid": document.status == DocumentStatus.PAID,
        "payment_lines": [
            bidi.auto(line) for line in (supplier.get("bank_details") or "").splitlines() if line
        ],
        "notice": [bidi.auto(line) for line in (content.get("notice") or "").splitlines()],
        "custom_text": [
            bidi.auto(line) for line in (content.get("custom_text") or "").splitlines()
        ],
        "breakdown": breakdown,
        "hide_energy": hide_energy,
        "card": _card_payment(document, bidi, hide_energy=hide_energy),
        "signed_meter_data": _signed_meter_data(document),
        "epc_qr": qr_data_uri(epc) if (epc := girocode_payload(document, payable)) else "",
    }


def _card_payment(document: Document, bidi: Bidi, *, hide_energy: bool) -> list | None:
    """What a card-payment receipt prints about the session and the payment, as frozen on the
    receipt when it was issued (times in the location's local time)."""
    card = document.card_payment
    if not card:
        return None

    def local(value: str) -> str:
        if not value:
            return ""
        return bidi.ltr(datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S"))

    def at_location(value: str) -> str:
        if not value:
            return ""
        moment = datetime.fromisoformat(value).astimezone(ZoneInfo(card["time_zone"]))
        return bidi.ltr(moment.strftime("%Y-%m-%d %H:%M:%S"))

    rows = [
        (_("Location"), bidi.auto(f"{card['location']}, {card['address']}")),
        (_("Charge point (EVSE)"), bidi.ltr(card["evse_id"])),
        (_("Session start"), local(card["started"])),
        (_("Session end"), local(card["ended"])),
    ]
    if not hide_energy:
        rows.append((_("Energy"), bidi.ltr(energy_text(Decimal(card["energy_kwh"])))))
    rows += [
        (_("Amount paid"), bidi.ltr(f"{card['amount']} {card['currency']}")),
        (_("Card"), bidi.ltr(f"{card['brand']} •••• {card['last4']}")),
        (_("Authorization code"), bidi.ltr(card["authorization_code"])),
        (_("Terminal"), bidi.ltr(card["terminal_id"])),
        (_("Transaction time"), at_location(card["at"])),
    ]
    return rows


def girocode_payload(document: Document, payable: bool) -> str:
    """An open EUR invoice whose issuing profile names the account to pay to carries an EPC QR
    code: that IBAN, the amount still due and the document number as reference."""
    supplier = document.profile.supplier
    if not payable or document.currency != "EUR" or not supplier.get("iban"):
        return ""
    if document.outstanding <= 0:
        return ""
    return epc_payload(
        name=supplier.get("legal_name") or supplier.get("name", ""),
        iban=supplier["iban"],
        bic=supplier.get("bic", ""),
        amount=document.outstanding,
        remittance=document.display_number,
    )


# --- rendering and storing ------------------------------------------------------------------


def render_html(document: Document) -> str:
    """The document's HTML in its own language; what `render_pdf` converts."""
    with translation.override(document.language or settings.LANGUAGE_CODE):
        return render_to_string(TEMPLATE, document_context(document))


def render_pdf(document: Document) -> bytes:
    """The document as PDF bytes; raises RenderError with the reason when it cannot be made."""
    html = render_html(document)
    return html_to_pdf(html)


def html_to_pdf(html: str) -> bytes:
    """Convert our HTML with only `link_callback`'s resources; any problem is a RenderError."""
    out = io.BytesIO()
    try:
        result = pisa.pisaDocument(
            html,
            dest=out,
            link_callback=link_callback,
            resource_policy=resource_policy(),
            encoding="utf-8",
        )
    except RenderError:
        raise
    except Exception as exc:
        # xhtml2pdf reports refusals by its resource policy and broken markup as exceptions.
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
    if result.err:
        messages = "; ".join(str(entry[2]) for entry in result.log if entry[0] == "error")
        raise RenderError(f"xhtml2pdf reported {result.err} error(s): {messages[:500]}")
    return out.getvalue()


def latest_file(document: Document) -> DocumentFile | None:
    """The newest stored PDF of a document (what admin, portal and API serve), or None."""
    return document.files.order_by("-revision").first()


def store_document_pdf(
    *,
    document_id: int,
    reason: str = DocumentFile.Reason.ISSUED,
    rendered_by=None,
) -> tuple[DocumentFile | None, bool]:
    """Render and store a document's PDF once per cause; returns (file, created).

    Issued: one file, ever. Recipient corrected: one file per (latest) correction. Re-rendered
    by staff: a new revision only when the bytes differ from the newest one. Running any of
    these twice stores nothing twice. A render that fails is recorded and raised.
    """
    document = (
        Document.objects.select_related("profile", "credited_document")
        .filter(pk=document_id)
        .first()
    )
    if document is None or document.status == DocumentStatus.DRAFT:
        return None, False
    if not document.files.exists():
        # The first PDF is the issued one, whatever asked for it (a re-render after a failed
        # first render, a correction while the first render was still queued): it is the one
        # the automatic e-mail sends.
        reason = DocumentFile.Reason.ISSUED
    correction = None
    if reason == DocumentFile.Reason.ISSUED:
        existing = document.files.filter(reason=reason).first()
        if existing:
            return existing, False
    elif reason == DocumentFile.Reason.RECIPIENT_CORRECTED:
        correction = RecipientCorrection.objects.filter(document=document).order_by("-id").first()
        if correction is None:
            return latest_file(document), False
        existing = document.files.filter(correction=correction).first()
        if existing:
            return existing, False
    try:
        data = render_pdf(document)
        einvoice = EInvoice.objects.filter(document=document, format=EInvoice.Format.FACTURX)
        xml = einvoice.values_list("xml", flat=True).first()
        if xml is not None:
            # Factur-X: the issued XML travels inside the PDF (docs/einvoices.md).
            data = hybrid_pdf(pdf=data, xml=bytes(xml), document=document)
    except RenderError as exc:
        RenderFailure.objects.create(document=document, reason=reason, error=str(exc)[:4000])
        logger.error("PDF of %s (pk=%s) could not be rendered: %s", document, document.pk, exc)
        raise
    digest = hashlib.sha256(data).hexdigest()
    if reason == DocumentFile.Reason.RERENDERED:
        newest = latest_file(document)
        if newest is not None and newest.sha256 == digest:
            return newest, False
    return _save_revision(
        document=document,
        data=data,
        digest=digest,
        reason=reason,
        correction=correction,
        rendered_by=rendered_by,
    )


def _save_revision(
    *, document: Document, data: bytes, digest: str, reason: str, correction, rendered_by
) -> tuple[DocumentFile, bool]:
    revision = (document.files.aggregate(last=Max("revision"))["last"] or 0) + 1
    record = DocumentFile(
        document=document,
        revision=revision,
        reason=reason,
        correction=correction,
        sha256=digest,
        size=len(data),
        rendered_by=rendered_by,
    )
    # The file is written first and the row after; a row never points at a missing file.
    record.file.save(f"{document.pk}.pdf", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            record.save()
    except IntegrityError:
        # Another worker stored this revision or this cause first: keep theirs.
        record.file.delete(save=False)
        winner = _existing_for(document, reason, correction)
        if winner is None:
            raise
        return winner, False
    return record, True


def _existing_for(document: Document, reason: str, correction) -> DocumentFile | None:
    if reason == DocumentFile.Reason.ISSUED:
        return document.files.filter(reason=reason).first()
    if correction is not None:
        return document.files.filter(correction=correction).first()
    return latest_file(document)
