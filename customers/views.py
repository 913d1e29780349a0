"""Portal pages for drivers."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from invoicing.models import Operator


def landing(request: HttpRequest) -> HttpResponse:
    """The portal's front page: who runs it and where drivers find their invoices."""
    operator = Operator.objects.order_by("id").first()
    return render(request, "portal/landing.html", {"operator": operator})
