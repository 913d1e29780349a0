"""Paying in the portal: “Pay now” on open invoices, the return page, the payment history,
the invoice e-mail's pay link, the demo checkout page and the providers' notification endpoint."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cpo_portal.kernel.errors import DomainError, InvalidInput, StateConflict
from customers.forms import DirectDebitMandateForm
from customers.models import Customer
from customers.views import selectors
from customers.views.access import driver_required, page
from invoicing.models import Document, InvoicingSettings
from invoicing.output import pay_links
from invoicing.payments import checkout, ledger, mandates
from invoicing.payments.models import MandateSource, Payment, PaymentTransaction, SepaMandate
from invoicing.payments.providers import InvalidNotification, demo, provider


@csrf_exempt
@require_POST
def notify(request: HttpRequest, provider_key: str) -> HttpResponse:
    """A provider tells us what happened; only what its signature vouches for is applied."""
    try:
        handler = provider(provider_key)
    except InvalidInput as error:
        return JsonResponse({"error": str(error)}, status=404)
    try:
        handler.handle_notification(body=request.body, headers=request.headers)
    except InvalidNotification as error:
        return JsonResponse({"error": str(error)}, status=400)
    except InvalidInput as error:
        return JsonResponse({"error": str(error), "errors": error.errors}, status=400)
    following = request.POST.get("next", "") if request.content_type.endswith("urlencoded") else ""
    if following and url_has_allowed_host_and_scheme(following, {request.get_host()}):
        return redirect(following)
    return JsonResponse({"received": True})


@require_GET
def demo_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """The demo provider's checkout page: “Pay” succeeds, “Decline” fails."""
    try:
        checkout_data = demo.unsign(token)
    except InvalidNotification as error:
        raise Http404(str(error)) from None
    document = Document.objects.filter(pk=checkout_data["document"]).first()
    if document is None:
        raise Http404("No such invoice.")
    return render(
        request,
        "portal/payments/demo_checkout.html",
        {
            "document": document,
            "amount": checkout_data["amount"],
            "currency": checkout_data["currency"],
            "pay": demo.notification(checkout_data, "paid"),
            "decline": demo.notification(checkout_data, "declined"),
            "next": checkout_data["return_url"],
            "notify_url": reverse("portal:payment-notify", args=["demo"]),
        },
    )


def _start(request: HttpRequest, document: Document, return_url: str) -> HttpResponse:
    try:
        started = checkout.start(
            document=document, return_url=request.build_absolute_uri(return_url)
        )
    except DomainError as error:
        return render(
            request, "portal/payments/unavailable.html", {"document": document, "error": str(error)}
        )
    return redirect(started.url)


@driver_required
@require_POST
def pay(request: HttpRequest, customer: Customer, document_id: int) -> HttpResponse:
    """“Pay now”: off to the checkout for what is still due."""
    try:
        document = selectors.document_of(customer=customer, document_id=document_id)
    except Document.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc
    return _start(request, document, reverse("portal:invoice-paid", args=[document.pk]))


@driver_required
def paid(request: HttpRequest, customer: Customer, document_id: int) -> HttpResponse:
    """Back from the checkout: “paid” once the notification is in, else a page that refreshes."""
    try:
        document = selectors.document_of(customer=customer, document_id=document_id)
    except Document.DoesNotExist as exc:
        raise Http404("No such invoice.") from exc
    return page(
        request,
        customer,
        "portal/payments/returned.html",
        "invoices",
        document=document,
        **checkout.outcome(document),
    )


def pay_link(request: HttpRequest, token: str) -> HttpResponse:
    """The invoice e-mail's pay link: works without signing in until it expires."""
    try:
        document = pay_links.document_of(token)
    except InvalidInput as error:
        return render(request, "portal/payments/unavailable.html", {"error": str(error)})
    if request.GET.get("returned") or not checkout.is_due(document):
        return render(
            request,
            "portal/payments/returned.html",
            {"document": document, "operator": document.operator, **checkout.outcome(document)},
        )
    return _start(request, document, f"{reverse('portal:pay-link', args=[token])}?returned=1")


@driver_required
def history(request: HttpRequest, customer: Customer) -> HttpResponse:
    """My payments: what moved, how, its state, and which documents it paid; my credit."""
    transactions = (
        PaymentTransaction.objects.filter(customer=customer)
        .order_by("-occurred_at", "-pk")
        .prefetch_related(
            Prefetch("allocations", Payment.objects.select_related("document").order_by("pk"))
        )[:200]
    )
    return page(
        request,
        customer,
        "portal/payments/history.html",
        "payments",
        transactions=transactions,
        credit=sorted(ledger.customer_credit(customer).items()),
    )


@driver_required
def direct_debit(request: HttpRequest, customer: Customer) -> HttpResponse:
    """The driver gives a SEPA mandate with the mandate text, sees theirs and revokes one."""
    creditor_id = (
        InvoicingSettings.objects.filter(operator_id=customer.operator_id)
        .values_list("sepa_creditor_identifier", flat=True)
        .first()
    )
    form = DirectDebitMandateForm(request.POST or None)
    status = 200
    if request.method == "POST" and "revoke" in request.POST:
        mandate = SepaMandate.objects.filter(
            customer=customer, pk=_int_or_none(request.POST["revoke"])
        ).first()
        if mandate is None:
            raise Http404("No such mandate.")
        try:
            mandates.revoke_mandate(mandate)
        except StateConflict as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("The mandate is revoked; nothing more will be debited."))
        return redirect("portal:direct-debit")
    if request.method == "POST":
        if not creditor_id:
            raise Http404("This operator collects no direct debits.")
        if form.is_valid():
            try:
                mandate = mandates.give_mandate(
                    customer=customer,
                    iban=form.cleaned_data["iban"],
                    account_holder=form.cleaned_data["account_holder"],
                    source=MandateSource.PORTAL,
                    given_by=request.user,
                )
            except InvalidInput as error:
                for field, problems in error.errors.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                messages.success(
                    request,
                    _("Thank you: your mandate %(reference)s is active.")
                    % {"reference": mandate.reference},
                )
                return redirect("portal:direct-debit")
        status = 400
    response = page(
        request,
        customer,
        "portal/payments/direct_debit.html",
        "direct-debit",
        form=form,
        creditor_id=creditor_id,
        creditor=customer.operator.legal_name or customer.operator.name,
        mandates=SepaMandate.objects.filter(customer=customer).order_by("-created_at", "-pk"),
    )
    response.status_code = status
    return response


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 18 else None
