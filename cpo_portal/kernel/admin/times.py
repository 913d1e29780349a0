"""Times in the back-office on the clock of the place they describe, the zone always named.

Which clock a thing is read on is decided in `cpo_portal/kernel/periods.py`; Django's date-time
formats name the zone after every time (`cpo_portal/formats/`). Every admin page reads on the
operator's clock (`OperatorClockMiddleware`; UTC when operators on different clocks share the
back-office), and every change page says so above the form; a change page of an object with a
clock of its own (a session's location) reads on that one instead, and list columns named
"(location time)" on each row's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import reduce

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _lazy

from cpo_portal.kernel.formatting import local_datetime_text
from cpo_portal.kernel.tenancy import Operator


def operators_time_zone() -> str:
    """The operators' clock when they share one (as a single CPO does), else the default (UTC)."""
    zones = Operator.objects.aggregate(first=Min("time_zone"), last=Max("time_zone"))
    return zones["first"] if zones["first"] == zones["last"] is not None else settings.TIME_ZONE


class OperatorClockMiddleware:
    """Admin pages show and read date-times on the operator's clock."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/admin/"):
            return self.get_response(request)
        with timezone.override(operators_time_zone()):
            response = self.get_response(request)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # lazy templates render on this clock, not the default one
            return response


def local_time_column(
    field: str, description: str, time_zone_of: Callable[[object], str]
) -> Callable[[admin.ModelAdmin, object], str]:
    """A column showing `field` (a__b follows relations) on the clock `time_zone_of(obj)` picks,
    the zone named: 2026-11-30 23:30 EET; sorted by the stored moment."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: admin.ModelAdmin, obj: object) -> str:
        moment: datetime | None = reduce(getattr, field.split("__"), obj)
        return (
            "-"
            if moment is None
            else local_datetime_text(moment, time_zone_of(obj), localized=False)
        )

    return column


class LocalTimesAdminMixin:
    """A change page whose date-times (fields and inlines) read on the object's own clock."""

    # Says whose clock it is; %(zone)s is the IANA name.
    time_zone_note = _lazy("Times on this page are in %(zone)s.")

    def time_zone_of(self, obj) -> str:
        raise NotImplementedError

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        zone = self.time_zone_of(obj) if obj is not None else timezone.get_current_timezone_name()
        extra_context = {
            **(extra_context or {}),
            "time_zone_note": self.time_zone_note % {"zone": zone},
        }
        with timezone.override(zone):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()  # the lazy template renders on this clock, not the default one
        return response
