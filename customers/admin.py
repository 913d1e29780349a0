"""Back-office screens for customers and their charging tokens."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel import formatting
from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.exports import ExportAdminMixin
from cpo_portal.kernel.errors import DomainError, InvalidInput
from customers.forms import CustomerAdminForm, PortalInvitationForm
from customers.models import (
    ChargingToken,
    Customer,
    MessageAttempt,
    MessageTemplate,
    NotificationPreference,
    OutboundMessage,
    Plan,
    Subscription,
    SubscriptionPeriod,
)
from customers.notifications.events import EVENTS
from customers.notifications.outbox import resend
from customers.notifications.templates import TemplateProblem, preview, render_override
from customers.services import PortalAccountError, create_portal_account, save_customer
from invoicing.documents.composition import InvoicingError, recipient_field_errors
from invoicing.models import DocumentKind, InvoicingSettings
from invoicing.payments import ledger
from invoicing.payments.credit import refund_credit
from invoicing.subscriptions.lifecycle import cancel_subscription, subscribe

ACTION_TEMPLATE = "admin/invoicing/action_form.html"


class ChargingTokenInline(admin.TabularInline):
    model = ChargingToken
    extra = 0
    fields = ["kind", "uid", "is_blocked", "blocked_reason"]


class CreditRefundForm(forms.Form):
    """How much of the customer's credit staff paid back (by transfer or in cash)."""

    currency = forms.ChoiceField(label=_("currency"))
    amount = forms.DecimalField(
        label=_("amount"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Prefilled with the whole credit; record it once the money is sent."),
    )

    def __init__(self, *args, credit: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [(currency, currency) for currency in sorted(credit)]
        if credit:
            currency = sorted(credit)[0]
            self.fields["currency"].initial = currency
            self.fields["amount"].initial = credit[currency]


class NotificationPreferenceInline(admin.TabularInline):
    """How the customer wants to hear of each event (mandatory messages go out regardless)."""

    model = NotificationPreference
    extra = 0
    fields = ["event", "channels"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "event":
            return forms.ChoiceField(
                label=_("event"),
                choices=[(e.code, e.label) for e in EVENTS.values() if not e.mandatory],
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Customer)
class CustomerAdmin(ExportAdminMixin, admin.ModelAdmin):
    actions = ["invite_to_portal"]
    exports = (("customers", _("customers"), _("Export selected customers as %(format)s")),)
    form = CustomerAdminForm
    list_display = [
        "id",
        "display_name",
        "kind",
        "email",
        "country",
        "requires_invoice",
        "invoices_held_for",
        "operator",
        "documents",
    ]
    list_filter = ["kind", "requires_invoice", "country", "billing_mode"]
    search_fields = ["name", "company_name", "email", "vat_id"]
    list_select_related = ["operator__invoicing_settings"]
    autocomplete_fields = ["operator", "user"]
    inlines = [ChargingTokenInline, NotificationPreferenceInline]
    show_full_result_count = False
    fieldsets = [
        (
            _("Customer"),
            {
                "fields": ["operator", "kind", "language", "time_zone"],
                "description": _(
                    "Who is billed. The invoice details each kind must give are set per "
                    "operator, in the invoicing settings on the operator's page."
                ),
            },
        ),
        (
            _("Invoice details"),
            {
                "fields": [
                    "name",
                    "company_name",
                    "company_registration_id",
                    "vat_id",
                    "email",
                    "mobile_phone",
                ]
            },
        ),
        (_("Address"), {"fields": ["street", "postal_code", "city", "country"]}),
        (_("E-invoice"), {"fields": ["einvoice_format", "buyer_reference"]}),
        (
            _("Billing"),
            {
                "fields": [
                    "requires_invoice",
                    "invoices_held_for",
                    "billing_mode",
                    "email_collected_at",
                    "credit",
                ]
            },
        ),
        (
            _("Portal account"),
            {
                "fields": ["user"],
                "description": _(
                    "The driver signs in to the self-service portal with this account's e-mail "
                    "and password (see docs/portal.md); never a staff account."
                ),
            },
        ),
    ]

    @admin.display(description=_("documents"))
    def documents(self, obj):
        """The customer's documents, one click from the customer a search found."""
        url = reverse("admin:invoicing_document_changelist") + f"?customer__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("documents"))

    @admin.display(description=_("invoices held for"))
    def invoices_held_for(self, obj):
        """What holds this customer's invoices above 250 EUR (a name and full address always,
        the rest per the operator's settings); smaller amounts get a simplified receipt."""
        if obj.pk is None or not obj.requires_invoice:
            return "-"
        try:
            settings = obj.operator.invoicing_settings
        except InvoicingSettings.DoesNotExist:
            return "-"
        errors = recipient_field_errors(customer=obj, kind=DocumentKind.INVOICE, settings=settings)
        return "; ".join(str(message) for _field, message in sorted(errors.items())) or "-"

    @admin.display(description=_("credit"))
    def credit(self, obj):
        """What the customer paid that no document used yet (refundable, or applied to the
        next invoice)."""
        if obj.pk is None:
            return "-"
        credit = ledger.customer_credit(obj)
        return (
            ", ".join(
                formatting.amount(amount, currency, localized=False)
                for currency, amount in sorted(credit.items())
            )
            or "-"
        )

    @admin.action(description=_("Invite to the portal (an e-mail to choose a password)"))
    def invite_to_portal(self, request, queryset):
        """Each selected driver gets a portal account and, through the outbox, a link to choose
        their password; a customer that cannot have one is named with the reason."""
        invited = 0
        for customer in queryset:
            try:
                create_portal_account(customer=customer)
            except PortalAccountError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            form = PortalInvitationForm({"email": customer.email.strip()})
            form.is_valid()
            form.save(request=request, use_https=request.is_secure())
            invited += 1
        if invited:
            self.message_user(
                request, _("%(count)d driver(s) invited.") % {"count": invited}, messages.SUCCESS
            )

    def get_readonly_fields(self, request, obj=None):
        # A customer stays with the operator whose sessions and documents it has.
        readonly = ["email_collected_at", "invoices_held_for", "credit"]
        return [*readonly, "operator"] if obj is not None else readonly

    # --- refunding the customer's credit -----------------------------------------------------

    def has_refund_permission(self, request):
        return request.user.has_perm("invoicing.add_payment")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        buttons = []
        if obj is not None and self.has_refund_permission(request) and ledger.customer_credit(obj):
            url = reverse("admin:customers_customer_refund_credit", args=[obj.pk])
            buttons.append((url, _("Refund credit")))
        context["object_buttons"] = buttons
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/refund-credit/",
                self.admin_site.admin_view(self.refund_credit_view),
                name="customers_customer_refund_credit",
            ),
            *super().get_urls(),
        ]

    def refund_credit_view(self, request, object_id):
        """Record that staff paid (part of) the customer's credit back; never more than it."""
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404(_("No customer with this ID."))
        if not (
            self.has_view_permission(request, customer) and self.has_refund_permission(request)
        ):
            raise PermissionDenied
        credit = ledger.customer_credit(customer)
        change = reverse("admin:customers_customer_change", args=[customer.pk])
        data = request.POST if request.method == "POST" else None
        form = CreditRefundForm(data, credit=credit)
        if form.is_bound and form.is_valid():
            try:
                paid_back = refund_credit(
                    customer=customer,
                    currency=form.cleaned_data["currency"],
                    amount=form.cleaned_data["amount"],
                    requested_by=request.user,
                )
            except DomainError as exc:
                show_domain_error(self, request, exc)
            else:
                total = sum(entry.amount for entry in paid_back)
                self.log_change(request, customer, f"Credit of {total} refunded.")
                self.message_user(
                    request,
                    _("Refund of %(amount)s %(currency)s of the credit recorded.")
                    % {"amount": total, "currency": form.cleaned_data["currency"]},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": customer,
            "title": _("Refund credit"),
            "subtitle": str(customer),
            "summary": [
                (_("Customer"), str(customer)),
                (_("Credit"), self.credit(customer)),
            ],
            "form": form,
            "media": self.media + form.media,
            "submit_label": _("Refund credit"),
            "cancel_url": change,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def save_model(self, request, obj, form, change):
        # The form checked the same rules; the service stores the customer with its ad-hoc
        # e-mail clock (erased 30 days after an e-mail is given here).
        save_customer(customer=obj)


@admin.register(ChargingToken)
class ChargingTokenAdmin(admin.ModelAdmin):
    list_display = ["uid", "kind", "customer", "is_blocked"]
    list_filter = ["kind", "is_blocked"]
    search_fields = ["uid"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "fee", "period", "energy_price", "included_kwh", "is_active"]
    list_filter = ["is_active", "period", "operator"]
    search_fields = ["name"]
    autocomplete_fields = ["operator"]
    fieldsets = [
        (None, {"fields": ["operator", "name", "is_active"]}),
        (_("Fee"), {"fields": ["fee", "period", "fee_vat_category"]}),
        (_("Charging price for subscribers"), {"fields": ["energy_price", "included_kwh"]}),
        (
            _("Payment"),
            {"fields": ["grace_days", "reminder_days", "suspend_after_days"]},
        ),
    ]

    def has_delete_permission(self, request, obj=None):
        # A plan with subscribers is retired ("on sale" off), never deleted.
        return obj is None or not obj.subscriptions.exists()


class SubscriptionPeriodInline(admin.TabularInline):
    model = SubscriptionPeriod
    fields = ["start", "end", "document", "reminder_sent_at", "overdue_notice_sent_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class SubscriptionAddForm(forms.ModelForm):
    """Selling a plan: the customer, the plan and the first day of the first period."""

    class Meta:
        model = Subscription
        fields = ["customer", "plan", "start_date"]

    def clean(self):
        data = super().clean()
        customer, plan = data.get("customer"), data.get("plan")
        if customer and plan and not self.errors:
            try:
                self.instance = subscribe(
                    customer=customer, plan=plan, start_date=data["start_date"], commit=False
                )
            except InvoicingError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "plan",
        "status",
        "start_date",
        "current_period_start",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end"]
    search_fields = ["customer__name", "customer__company_name", "customer__email"]
    list_select_related = ["customer", "plan"]
    autocomplete_fields = ["customer"]
    inlines = [SubscriptionPeriodInline]
    actions = ["cancel_at_end_of_period"]
    readonly_fields = [
        "customer",
        "plan",
        "start_date",
        "current_period_start",
        "status",
        "cancel_at_period_end",
        "cancelled_on",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SubscriptionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def save_model(self, request, obj, form, change):
        if not change:
            form.instance = subscribe(
                customer=obj.customer, plan=obj.plan, start_date=obj.start_date
            )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Cancel at the end of the current period"))
    def cancel_at_end_of_period(self, request, queryset):
        for subscription in queryset:
            try:
                cancel_subscription(subscription=subscription)
            except InvoicingError as exc:
                self.message_user(request, f"{subscription}: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{subscription} ends after the current period.", messages.SUCCESS
                )


class MessageAttemptInline(admin.TabularInline):
    """Each try at sending the message and what the provider answered."""

    model = MessageAttempt
    fields = ["started_at", "finished_at", "outcome", "provider_message_id", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    """The message log: every e-mail and SMS to drivers, searchable by customer, re-sendable."""

    list_display = [
        "created_at",
        "event",
        "channel",
        "customer",
        "status",
        "attempt_count",
        "sent_at",
    ]
    list_filter = ["status", "channel", "event", "language"]
    search_fields = ["customer__name", "customer__company_name", "customer__email", "=customer__id"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [MessageAttemptInline]
    actions = ["resend_messages"]
    readonly_fields = [field.name for field in OutboundMessage._meta.fields if field.name != "id"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Re-send the selected messages"), permissions=["change"])
    def resend_messages(self, request, queryset) -> None:
        sent = 0
        for message in queryset:
            try:
                resend(message=message)
            except InvalidInput as error:
                self.message_user(request, f"#{message.pk}: {error}", messages.ERROR)
            else:
                sent += 1
        if sent:
            self.message_user(request, _("%(count)s messages queued again.") % {"count": sent})


TEMPLATE_FIELDS = ["operator", "event", "channel", "language", "subject", "body_text", "body_html"]


class MessageTemplateForm(forms.ModelForm):
    """An operator's wording: the event and language are chosen from the list, and a template
    that does not render is refused next to the form with Django's reason."""

    event = forms.ChoiceField(
        label=_("event"), choices=[(code, e.label) for code, e in EVENTS.items()]
    )
    language = forms.ChoiceField(label=_("language"), choices=settings.LANGUAGES)

    class Meta:
        model = MessageTemplate
        fields = TEMPLATE_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if cleaned.get("channel") == MessageTemplate.Channel.EMAIL and not cleaned.get("subject"):
            self.add_error("subject", _("An e-mail needs a subject."))
            return cleaned
        candidate = MessageTemplate(**{f: cleaned.get(f) for f in TEMPLATE_FIELDS})
        try:
            render_override(candidate, {})
        except TemplateProblem as error:
            raise forms.ValidationError(
                _("The template cannot be used: %(reason)s") % {"reason": error}
            ) from error
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """The operator's own texts per event, channel and language, with a preview."""

    form = MessageTemplateForm
    list_display = ["event", "channel", "language", "operator", "updated_at"]
    list_filter = ["event", "channel", "language"]
    search_fields = ["event", "subject", "body_text"]
    autocomplete_fields = ["operator"]
    readonly_fields = ["filled_example"]
    fields = [
        "operator",
        "event",
        "channel",
        "language",
        "subject",
        "body_text",
        "body_html",
        "filled_example",
    ]

    @admin.display(description=_("preview"))
    def filled_example(self, obj: MessageTemplate) -> str:
        if obj is None or obj.pk is None:
            return _("Save to see the template filled with an example.")
        try:
            subject, text, html = preview(obj)
        except TemplateProblem as error:
            return _("The template cannot be used: %(reason)s") % {"reason": error}
        return format_html(
            '<p><strong>{}</strong></p><pre class="message-preview">{}</pre>{}',
            subject,
            text,
            format_html(
                '<iframe title="{}" sandbox srcdoc="{}" style="width:100%;height:20em;'
                'border:1px solid #ccc"></iframe>',
                _("HTML preview"),
                html,
            )
            if html
            else "",
        )
