"""The door of short links in text messages: /s/<token>/ redirects to its page."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cpo_portal.kernel.links import follow


@require_safe
def follow_short_link(request: HttpRequest, token: str) -> HttpResponse:
    """Unknown and expired links get the portal's 404 page (status 404), never a server error."""
    target = follow(token)
    if target is None:
        return render(request, "404.html", status=404)
    return HttpResponseRedirect(target)
