"""What the invoicing admin screens share: links, read-only inlines and the action page."""

from __future__ import annotations

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

INLINE_ROWS_SHOWN = 200
ACTION_TEMPLATE = "admin/invoicing/action_form.html"


def hours_minutes(seconds: int | float | None) -> str:
    """Seconds as h:mm (negative on credit notes)."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds)) // 60
    return f"{sign}{minutes // 60}:{minutes % 60:02d}"


def change_url(obj) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def admin_link(obj) -> str:
    return format_html('<a href="{}">{}</a>', change_url(obj), obj)


class ReadOnlyInline(admin.TabularInline):
    """A table of facts that belong to the parent: shown, never edited here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FirstRowsFormSet(BaseInlineFormSet):
    """Shows only the first rows: a monthly document or a run can have thousands of them."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[:INLINE_ROWS_SHOWN]
        return self._queryset


class FirstRowsInline(ReadOnlyInline):
    formset = FirstRowsFormSet

    def total_rows(self, obj) -> int:
        raise NotImplementedError

    def get_formset(self, request, obj=None, **kwargs):
        # A new inline instance is made per request, so the title may say what is left out.
        if obj is not None and self.total_rows(obj) > INLINE_ROWS_SHOWN:
            self.verbose_name_plural = _("%(name)s (first %(shown)d of %(total)d)") % {
                "name": self.model._meta.verbose_name_plural,
                "shown": INLINE_ROWS_SHOWN,
                "total": self.total_rows(obj),
            }
        return super().get_formset(request, obj, **kwargs)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A permanent record: listed and shown, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
