"""The public receipt pages: no account and no personal data, a signed token per session, each
retrieval logged and rate limited per client address; "find my receipt" for a lost QR code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.files import bytes_response, file_response
from cpo_portal.kernel.ratelimit import client_ip, counted
from invoicing.documents.card_receipts import card_receipt_of, find_card_receipt
from invoicing.models import Document, DocumentKind, ReceiptRetrieval
from invoicing.output import emails as delivery
from invoicing.output import receipt_links
from invoicing.output.pdf import latest_file
from invoicing.output.receipt_requests import request_receipt_email
from invoicing.payments.card_receipts import COMPANY_FIELDS, receipt_to_invoice
from sessions.metering import transparency
from sessions.metering.verification import TRANSPARENCY_SOFTWARE_URL
from sessions.models import SignedMeterData

What = ReceiptRetrieval.What


def _limited(request: HttpRequest, scope: str, *, limit: int, window: int) -> HttpResponse | None:
    allowed, wait = counted(f"{scope}:{client_ip(request)}", limit=limit, window=window)
    if allowed:
        return None
    response = render(request, "portal/receipts/limited.html", {"wait": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def _session_or_404(token: str):
    session = receipt_links.session_of_token(token)
    if session is None:
        raise Http404("No such receipt.")
    return session


@require_http_methods(["GET", "POST"])
def receipt_page(request: HttpRequest, token: str) -> HttpResponse:
    """The receipt of one session: "being prepared" until it is issued, then its number, total
    and PDF; an e-mail address for the receipt; a full invoice for a business."""
    limited = _limited(request, "receipt", limit=settings.RECEIPT_PAGE_RATE, window=60)
    if limited:
        return limited
    session = _session_or_404(token)
    document = card_receipt_of(session_id=session.pk)
    invoice_errors: dict = {}
    email_error = ""
    if request.method == "POST":
        if request.POST.get("action") == "email":
            try:
                validate_email(request.POST.get("email", "").strip())
            except ValidationError:
                email_error = _("Enter a valid e-mail address.")
            else:
                request_receipt_email(session=session, email=request.POST["email"].strip())
                receipt_links.log_retrieval(session_id=session.pk, what=What.EMAIL)
                messages.success(request, _("The receipt will be sent to this address."))
                return redirect(request.path)
        elif request.POST.get("action") == "invoice":
            try:
                invoice = receipt_to_invoice(
                    session_id=session.pk,
                    details={name: request.POST.get(name, "") for name in COMPANY_FIELDS},
                )
            except InvalidInput as exc:
                invoice_errors = exc.errors
            else:
                receipt_links.log_retrieval(
                    session_id=session.pk, what=What.INVOICE, document_id=invoice.pk
                )
                messages.success(
                    request,
                    _("Invoice %(number)s was issued; the receipt is cancelled.")
                    % {"number": invoice.display_number},
                )
                return redirect(request.path)
    receipt_links.log_retrieval(
        session_id=session.pk, what=What.PAGE, document_id=document.pk if document else None
    )
    response = render(
        request,
        "portal/receipts/page.html",
        {
            "session": session,
            "document": document,
            "card": document.card_payment if document else None,
            "is_receipt": bool(document) and document.kind == DocumentKind.SALES_RECEIPT,
            "has_pdf": bool(document) and latest_file(document) is not None,
            "pdf_url": f"{request.path}pdf/",
            "operator": session.operator,
            "hide_sign_in_link": True,
            "meter_data": SignedMeterData.objects.filter(session=session).first(),
            "signed_data_url": f"{request.path}signed-data/",
            "transparency_software": TRANSPARENCY_SOFTWARE_URL,
            "email_error": email_error,
            "invoice_errors": invoice_errors,
            "invoice_values": request.POST if invoice_errors else {},
        },
        status=400 if (email_error or invoice_errors) else 200,
    )
    add_never_cache_headers(response)
    return response


def receipt_pdf(request: HttpRequest, token: str) -> HttpResponse:
    """The receipt's stored PDF (never rendered in the request)."""
    limited = _limited(request, "receipt", limit=settings.RECEIPT_PAGE_RATE, window=60)
    if limited:
        return limited
    session = _session_or_404(token)
    document = card_receipt_of(session_id=session.pk)
    document_file = latest_file(document) if document else None
    if document_file is None:
        return redirect("portal:receipt", token=token)
    receipt_links.log_retrieval(session_id=session.pk, what=What.PDF, document_id=document.pk)
    return file_response(
        document_file.file,
        delivery.attachment_name(document),
        as_attachment=True,
        content_type="application/pdf",
    )


def receipt_signed_data(request: HttpRequest, token: str) -> HttpResponse:
    """The session's signed meter data as the Transparenzsoftware's file, for anyone holding
    the receipt's link (no account, as the receipt itself)."""
    limited = _limited(request, "receipt", limit=settings.RECEIPT_PAGE_RATE, window=60)
    if limited:
        return limited
    session = _session_or_404(token)
    meter_data = SignedMeterData.objects.filter(session=session).first()
    if meter_data is None:
        raise Http404("This session has no signed meter data.")
    receipt_links.log_retrieval(session_id=session.pk, what=What.SIGNED_DATA)
    data, name, content_type = transparency.download(meter_data)
    return bytes_response(data, name, content_type=content_type)


@require_http_methods(["GET", "POST"])
def find_receipt(request: HttpRequest) -> HttpResponse:
    """A driver who lost the QR code gives date, charge point, last 4 card digits and amount:
    exactly one receipt matching all four leads to its page; anything else says only that none
    was found."""
    values = request.POST if request.method == "POST" else {}
    not_found = False
    if request.method == "POST":
        limited = _limited(request, "find-receipt", limit=settings.RECEIPT_SEARCH_RATE, window=3600)
        if limited:
            return limited
        document = None
        try:
            on = date.fromisoformat(values.get("date", "").strip())
            amount = Decimal(values.get("amount", "").strip().replace(",", "."))
        except (ValueError, InvalidOperation):
            on = amount = None
        if on is not None and amount.is_finite():
            document = find_card_receipt(
                on=on,
                evse_id=values.get("evse_id", "").strip(),
                last4=values.get("last4", "").strip(),
                amount=amount,
            )
        if document is not None:
            session_id = document.card_payment["session_id"]
            receipt_links.log_retrieval(
                session_id=session_id, what=What.FOUND, document_id=document.pk
            )
            return redirect(receipt_links.receipt_path(session_id))
        not_found = True
    response = render(
        request,
        "portal/receipts/find.html",
        {"values": values, "not_found": not_found, "hide_sign_in_link": True},
        status=404 if not_found else 200,
    )
    add_never_cache_headers(response)
    return response


def demo_receipt(request: HttpRequest) -> HttpResponse:
    """The development profile's stable link (the QR code in docs/receipts.md): the page of the
    demo's first card receipt; no such link exists outside the development profile."""
    if not settings.DEVELOPMENT:
        raise Http404("No such page.")
    first = (
        Document.objects.exclude(card_payment={})
        .filter(kind=DocumentKind.SALES_RECEIPT)
        .order_by("issued_at", "id")
        .values_list("card_payment", flat=True)
        .first()
    )
    if first is None:
        return redirect("portal:find-receipt")
    return redirect(receipt_links.receipt_path(first["session_id"]))
