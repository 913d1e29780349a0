"""A driver's own pages: sessions, invoices and their PDFs, invoice details, subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cpo_portal.kernel import formatting
from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.files import bytes_response, file_response
from cpo_portal.kernel.money import ZERO
from customers.forms import InvoiceDetailsForm
from customers.models import Customer
from customers.notifications.events import EVENTS
from customers.notifications.models import NotificationPreference
from customers.notifications.preferences import preferences_of, set_preferences
from customers.services import PORTAL_EDITABLE_FIELDS, update_invoice_details
from customers.views import selectors
from customers.views.access import driver_required, page
from invoicing.models import Document, DocumentKind, DocumentLine, DocumentStatus, EInvoice
from invoicing.output import emails as delivery
from invoicing.output import pdf
from invoicing.payments import checkout
from invoicing.subscriptions.lifecycle import period_end
from sessions.metering import transparency
from sessions.metering.verification import TRANSPARENCY_SOFTWARE_URL
from sessions.models import ChargingSession, SignedMeterData

PAGE_SIZE = 25
# A monthly invoice may bill hundreds of sessions; its page links the first ones.
SESSIONS_PER_DOCUMENT_PAGE = 50
KWH = DocumentLine.Unit.KWH
DETAIL_GROUPS = (
    (_lazy("Name and tax details"), ("name", "company_name", "company_registration_id", "vat_id")),
    (_lazy("Address"), ("street", "postal_code", "city", "country")),
    (_lazy("Delivery"), ("email", "mobile_phone", "language", "requires_invoice")),
)


@dataclass(frozen=True)
class Row:
    """One row of a priced breakdown as the portal shows it (blank cells stay empty)."""

    description: str
    quantity: str
    unit_price: str
    net: Decimal
    vat_rate: Decimal
    gross: Decimal | None = None


def _services_row(label: str, rows: list[tuple[Decimal, Decimal, Decimal]], rate) -> Row:
    net = sum((net for net, _vat, _gross in rows), ZERO)
    gross = sum((gross for _net, _vat, gross in rows), ZERO)
    description = pdf.service_label(DocumentLine.Service.CHARGING_SERVICES, label)
    return Row(description, "", "", net, rate, gross)


def session_rows(session: ChargingSession, *, hide_energy: bool, label: str) -> list[Row]:
    """The session's priced components; where energy is hidden its rows become one services
    row per VAT rate, with no quantity or price per kWh."""
    rows: list[Row] = []
    hidden: dict[Decimal, list[tuple[Decimal, Decimal, Decimal]]] = {}
    for line in session.charge_lines.all():
        if hide_energy and line.unit == KWH:
            hidden.setdefault(line.vat_rate, []).append((line.net, line.vat, line.gross))
            continue
        rows.append(
            Row(
                description=line.get_component_display(),
                quantity=f"{formatting.quantity_text(line.quantity, line.unit)} "
                f"{pdf.unit_label(line.unit, line.quantity)}",
                unit_price=formatting.unit_price_text(line.unit_price),
                net=line.net,
                vat_rate=line.vat_rate,
                gross=line.gross,
            )
        )
    services = [_services_row(label, parts, rate) for rate, parts in sorted(hidden.items())]
    return services + rows


def document_rows(document: Document) -> list[dict]:
    """The document's services table exactly as its PDF prints it (the PDF's own rows, in
    the driver's language): the page never shows what the issued document does not."""
    return pdf.line_rows(document, pdf.Bidi(rtl=False))


# --- sessions --------------------------------------------------------------------------------


@driver_required
def session_list(request: HttpRequest, customer: Customer) -> HttpResponse:
    """My sessions: date, location, energy (unless hidden), duration and cost, newest first."""
    paginator = Paginator(selectors.sessions_of(customer=customer), PAGE_SIZE)
    return page(
        request,
        customer,
        "portal/sessions/list.html",
        "sessions",
        page_obj=paginator.get_page(request.GET.get("page")),
        hide_energy=selectors.hides_energy(customer=customer),
    )


def _own_session(customer: Customer, session_id: int) -> ChargingSession:
    try:
        return selectors.session_of(customer=customer, session_id=session_id)
    except ChargingSession.DoesNotExist as exc:
        raise Http404("No such session.") from exc


@driver_required
def session_detail(request: HttpRequest, customer: Customer, session_id: int) -> HttpResponse:
    """One session with its priced breakdown and the documents that bill it."""
    session = _own_session(customer, session_id)
    hide_energy = selectors.hides_energy(customer=customer)
    return page(
        request,
        customer,
        "portal/sessions/detail.html",
        "sessions",
        session=session,
        rows=session_rows(
            session,
            hide_energy=hide_energy,
            label=selectors.services_label(customer=customer),
        ),
        documents=selectors.documents_of_session(customer=customer, session=session),
        hide_energy=hide_energy,
        meter_data=SignedMeterData.objects.filter(session=session).first(),
        signed_data_url=reverse("portal:session-signed-data", args=[session.pk]),
        transparency_software=TRANSPARENCY_SOFTWARE_URL,
    )


@driver_required
def session_signed_data(request: HttpRequest, customer: Customer, session_id: int) -> HttpResponse:
    """The session's signed meter data as the Transparenzsoftware's file."""
    session = _own_session(customer, session_id)
    meter_data = SignedMeterData.objects.filter(session=session).first()
    if meter_data is None:
        raise Http404("This session has no signed meter data.")
    data, name, content_type = transparency.download(meter_data)
    return bytes_response(data, name, content_type=content_type)


# --- invoices --------------------------------------------------------------------------------


@driver_required
def invoice_list(request: HttpRequest, customer: Customer) -> HttpResponse:
    """My invoices, receipts and credit notes: status, due date, amount, PDF."""
    paginator = Paginator(selectors.documents_of(customer=customer), PAGE_SIZE)
    return page(
        request,
        customer,
        "portal/invoices/list.html",
        "invoices",
        page_obj=paginator.get_page(request.GET.get("page")),
        balance=selectors.open_balance(customer=customer),
        can_pay=checkout.enabled(),
    )


@driver_required
def invoice_detail(request: HttpRequest, customer: Customer, document_id: int) -> HttpResponse:
    """One document: amounts, lines, VAT, payment state, corrections, sessions and its PDF."""
    try:
        document = selectors.document_of(customer=customer, document_id=document_id)
    except Document.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc
    sessions = selectors.sessions_of_document(customer=customer, document=document)
    return page(
        request,
        customer,
        "portal/invoices/detail.html",
        "invoices",
        document=document,
        rows=document_rows(document),
        vat_rows=document.vat_summary,
        payable=document.kind != DocumentKind.CREDIT_NOTE,
        open=document.status in (DocumentStatus.ISSUED, DocumentStatus.OVERDUE),
        can_pay=checkout.enabled() and checkout.is_due(document),
        has_pdf=document.files.exists(),
        has_einvoice=EInvoice.objects.filter(document=document).exists(),
        sessions=sessions[:SESSIONS_PER_DOCUMENT_PAGE],
        session_total=document.session_count,
    )


@driver_required
def invoice_pdf(request: HttpRequest, customer: Customer, document_id: int) -> HttpResponse:
    """The stored PDF as a download; requests never render, so a PDF still queued is said so."""
    try:
        document_file = selectors.latest_pdf_of(customer=customer, document_id=document_id)
    except Document.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc
    if document_file is None:
        messages.info(request, _("The PDF is still being prepared. Please try again in a minute."))
        return redirect("portal:invoice", document_id=document_id)
    return file_response(
        document_file.file,
        delivery.attachment_name(document_file.document),
        as_attachment=True,
        content_type="application/pdf",
    )


@driver_required
def invoice_einvoice(request: HttpRequest, customer: Customer, document_id: int) -> HttpResponse:
    """The e-invoice XML of one of the customer's documents, as issued."""
    try:
        document = selectors.documents_of(customer=customer).get(pk=document_id)
    except Document.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc
    einvoice = EInvoice.objects.filter(document=document).select_related("document").first()
    if einvoice is None:
        messages.info(request, _("This invoice has no e-invoice."))
        return redirect("portal:invoice", document_id=document_id)
    return bytes_response(bytes(einvoice.xml), einvoice.filename, content_type="application/xml")


# --- invoice details -------------------------------------------------------------------------


@driver_required
def invoice_details(request: HttpRequest, customer: Customer) -> HttpResponse:
    """Edit my invoice details; documents already issued keep the details they were issued
    with."""
    initial = {name: getattr(customer, name) for name in PORTAL_EDITABLE_FIELDS}
    if initial["kind"] not in (Customer.Kind.INDIVIDUAL, Customer.Kind.COMPANY):
        initial["kind"] = Customer.Kind.INDIVIDUAL
    form = InvoiceDetailsForm(
        request.POST if request.method == "POST" else None, customer=customer, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_invoice_details(customer=customer, details=form.cleaned_data)
        except InvalidInput as exc:
            # The form ran the same rules; this only catches a change made meanwhile.
            for name, problems in exc.errors.items():
                form.add_error(name if name in form.fields else None, problems)
        else:
            messages.success(
                request,
                _(
                    "Your invoice details are saved. They apply to invoices issued from now on; "
                    "invoices already issued keep the details they were issued with."
                ),
            )
            return redirect("portal:details")
    mandatory = form.mandatory
    groups = [
        {
            "legend": legend,
            "fields": [{"field": form[name], "required": name in mandatory} for name in names],
        }
        for legend, names in DETAIL_GROUPS
    ]
    return page(
        request,
        customer,
        "portal/details.html",
        "details",
        form=form,
        groups=groups,
        required_individual=_labels(form, form.mandatory_for(Customer.Kind.INDIVIDUAL)),
        required_company=_labels(form, form.mandatory_for(Customer.Kind.COMPANY)),
    )


def _labels(form: InvoiceDetailsForm, names: list[str]) -> list[str]:
    return [str(form[name].label) for name in names if name in form.fields]


# --- subscription ----------------------------------------------------------------------------


@driver_required
def subscription(request: HttpRequest, customer: Customer) -> HttpResponse:
    """My plan: current period, next invoice, status, and what happens after the grace period."""
    current = selectors.live_subscription_of(customer=customer)
    context: dict[str, object] = {"subscription": current}
    if current is not None:
        plan = current.plan
        settings = selectors.operator_settings(customer=customer)
        next_invoice = period_end(current, current.current_period_start)
        periods = list(selectors.billed_periods_of(customer=customer, subscription=current)[:12])
        grace_days = plan.grace_days
        if grace_days is None:
            grace_days = settings.payment_grace_days if settings else 0
        context.update(
            plan=plan,
            period_last_day=next_invoice - timedelta(days=1),
            next_invoice=next_invoice,
            grace_days=grace_days,
            periods=periods,
            suspension_date=selectors.suspension_date(subscription=current, periods=periods),
            hide_energy=selectors.hides_energy(customer=customer),
        )
    return page(request, customer, "portal/subscription.html", "subscription", **context)


@driver_required
def notification_preferences(request: HttpRequest, customer: Customer) -> HttpResponse:
    """How the driver hears of each event; mandatory messages are shown but locked."""
    errors: dict = {}
    if request.method == "POST":
        choices = {code: value for code, value in request.POST.items() if code in EVENTS}
        try:
            set_preferences(customer, choices)
        except InvalidInput as exc:
            errors = dict(exc.errors)
        else:
            messages.success(request, _("Your notification choices are saved."))
            return redirect("portal:notifications")
    response = page(
        request,
        customer,
        "portal/notifications.html",
        "notifications",
        rows=preferences_of(customer),
        channel_choices=NotificationPreference.Channels.choices,
        errors=errors,
    )
    if errors:
        response.status_code = 400
    return response


@driver_required
def change_password(request: HttpRequest, customer: Customer) -> HttpResponse:
    """The driver changes their password by giving the current one; they stay signed in here
    and every other session of the account is signed out."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            update_session_auth_hash(request, form.save())
            messages.success(request, _("Your password is changed."))
            return redirect("portal:password-change")
        response = page(request, customer, "portal/password_change.html", "password", form=form)
        response.status_code = 400
        return response
    return page(request, customer, "portal/password_change.html", "password", form=form)
