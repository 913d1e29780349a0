"""Back-office screens of the integrator API: integrators, their API keys and webhooks.

Imported by invoicing/admin/__init__.py. A new API key is shown once, on the page after
saving it; only its hash is stored. Webhook endpoints are edited on their integrator's page;
deliveries are read-only, with their attempts, and can be sent again.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cpo_portal.kernel.integrations import webhooks
from cpo_portal.kernel.integrations.keys import create_api_key, revoke_api_key
from cpo_portal.kernel.integrations.models import (
    ApiKey,
    Integrator,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

NEW_KEY_TEMPLATE = "admin/invoicing/apikey/created.html"


class WebhookEndpointForm(forms.ModelForm):
    # Receivers should use TLS: a URL typed without a scheme means https.
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"size": 80}),
        help_text=_("Where the integrator receives events, e.g. https://erp.example/hooks."),
    )
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError(_("Use an http(s) URL."))
        try:
            webhooks.check_literal_destination(url)
        except webhooks.DestinationRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


class WebhookEndpointInline(admin.StackedInline):
    """Where the integrator receives events; the signing secret is generated, shown read-only."""

    model = WebhookEndpoint
    form = WebhookEndpointForm
    extra = 0
    fields = ["url", "description", "events", "is_active", "secret"]
    readonly_fields = ["secret"]


class ApiKeyInline(admin.TabularInline):
    """The integrator's keys at a glance; keys are created and revoked under API keys."""

    model = ApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["name", "prefix", "scope", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Integrator)
class IntegratorAdmin(admin.ModelAdmin):
    list_display = ["name", "operator", "session_source", "is_active", "created_at"]
    list_filter = ["is_active", "operator"]
    search_fields = ["name", "session_source"]
    inlines = [WebhookEndpointInline, ApiKeyInline]


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["integrator", "name", "scope", "expires_at", "requests_per_minute"]

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError(_("The expiry must lie in the future."))
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Create a key (its plain text is shown once), limit it, revoke it."""

    list_display = [
        "name",
        "integrator",
        "prefix",
        "scope",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = ["scope", "integrator__operator"]
    search_fields = ["name", "prefix", "integrator__name"]
    actions = ["revoke"]
    readonly_fields = [
        "integrator",
        "prefix",
        "scope",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_by",
        "created_at",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ApiKeyAddForm._meta.fields
        return ["name", "requests_per_minute", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        new = create_api_key(
            integrator=obj.integrator,
            name=obj.name,
            scope=obj.scope,
            expires_at=obj.expires_at,
            requests_per_minute=obj.requests_per_minute,
            created_by=request.user,
        )
        obj.pk = new.api_key.pk
        obj.prefix, obj.secret_hash = new.api_key.prefix, new.api_key.secret_hash
        obj.created_at, obj.created_by = new.api_key.created_at, new.api_key.created_by
        obj._state.adding = False
        request.new_api_key = new.plaintext

    def response_add(self, request, obj, post_url_continue=None):
        """The one page that ever shows the key; it is not stored anywhere in plain text."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": _("Copy the new API key now"),
            "plaintext": request.new_api_key,
        }
        return TemplateResponse(request, NEW_KEY_TEMPLATE, context)

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for api_key in keys:
            revoke_api_key(api_key=api_key)
        self.message_user(
            request,
            ngettext("%(n)d key revoked.", "%(n)d keys revoked.", len(keys)) % {"n": len(keys)},
            messages.SUCCESS,
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "error", "response_excerpt", "duration_ms"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Every event to every endpoint: status, attempts and what the receiver answered."""

    list_display = [
        "event_type",
        "object_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event__type", "endpoint__integrator"]
    search_fields = ["event__message_id", "endpoint__url"]
    list_select_related = ["event", "endpoint"]
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]
    fields = [
        "event_type",
        "message_id",
        "object_id",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "body",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("event"), ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.get_type_display()

    @admin.display(description=_("webhook ID"))
    def message_id(self, obj: WebhookDelivery) -> str:
        return obj.event.message_id

    @admin.display(description=_("object ID"))
    def object_id(self, obj: WebhookDelivery) -> int:
        return obj.event.object_id

    @admin.display(description=_("body"))
    def body(self, obj: WebhookDelivery) -> str:
        return obj.event.body

    def has_resend_permission(self, request) -> bool:
        """Re-sending is the one change staff make to a delivery (the support role may)."""
        return request.user.has_perm("invoicing.change_webhookdelivery")

    @admin.action(description=_("Send the selected deliveries again now"), permissions=["resend"])
    def send_again(self, request, queryset):
        deliveries = list(queryset.exclude(status=WebhookDelivery.Status.DELIVERED))
        for delivery in deliveries:
            webhooks.retry_now(delivery=delivery)
        self.message_user(
            request,
            ngettext(
                "%(n)d delivery queued again.", "%(n)d deliveries queued again.", len(deliveries)
            )
            % {"n": len(deliveries)},
            messages.SUCCESS,
        )
