"""The one gate in front of every portal page: a signed-in driver, and only their own data."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from customers.auth import customer_of, is_back_office
from customers.models import Customer

DriverView = Callable[..., HttpResponse]


def driver_required(view: DriverView) -> Callable[..., HttpResponse]:
    """Call the view with the signed-in driver's customer; anyone else is sent away.

    Anonymous visitors go to the sign-in page; staff and accounts without a customer get a
    403 page that says why. Responses are never cached: they hold personal data, and a shared
    computer's back button must not show them after sign-out.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:sign-in"))
        customer = customer_of(request.user)
        if customer is None:
            response = refused(request)
        else:
            request.customer = customer
            response = view(request, customer, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapper


def refused(request: HttpRequest) -> HttpResponse:
    """Staff, or an account that is nobody's: the portal is for drivers only."""
    return render(
        request,
        "portal/refused.html",
        {"back_office": is_back_office(request.user)},
        status=403,
    )


def page(request: HttpRequest, customer: Customer, template: str, section: str, **context):
    """Render a portal page with what the layout needs: the driver, the operator, the section."""
    return render(
        request,
        template,
        {"customer": customer, "operator": customer.operator, "section": section, **context},
    )
