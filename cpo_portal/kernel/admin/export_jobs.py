"""The rows of a queued export job: the admin list its user saw, rebuilt in the worker.

A job remembers the list (model), its query string and the selected rows; the worker
(cpo_portal/kernel/exports/tasks.py) asks the same ModelAdmin for the same changelist, as the
same user, so a job exports exactly what the user would have downloaded.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone

from cpo_portal.kernel.admin.times import operators_time_zone
from cpo_portal.kernel.exports.models import ExportJob


class ExportJobError(Exception):
    """A job that cannot run any more (user gone or no longer allowed, filters invalid)."""


def job_queryset(job: ExportJob):
    """The rows the job's user saw in the admin list, with the same filters (and selection)."""
    user = job.requested_by
    if user is None or not user.is_active:
        raise ExportJobError("The user who asked for this export no longer exists or is inactive.")
    try:
        model = apps.get_model(job.filters["model"])
        model_admin = admin.site.get_model_admin(model)
    except (KeyError, LookupError, NotRegistered) as exc:
        raise ExportJobError(f"The export's list is unknown: {exc}") from exc
    request = HttpRequest()
    request.method = "GET"
    request.path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    request.GET = QueryDict(job.filters.get("query") or "")
    request.user = user
    if not model_admin.may_export(request):
        raise ExportJobError("The user who asked for this export may no longer export.")
    try:
        # The list's day filters meant the operator's days, as the admin page read them.
        with timezone.override(operators_time_zone()):
            queryset = model_admin.get_changelist_instance(request).get_queryset(request)
    except IncorrectLookupParameters as exc:
        raise ExportJobError("The list's filters are no longer valid.") from exc
    selected = job.filters.get("selected")
    if selected is not None:
        queryset = queryset.filter(pk__in=selected)
    return queryset
