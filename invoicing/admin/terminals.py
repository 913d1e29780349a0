"""Card terminals, their transactions and the review queue: staff confirm, reassign or undo a
match (the services record who, when and why), and import a vendor's settlement file."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.lists import EstimatedCountPaginator
from cpo_portal.kernel.errors import DomainError
from invoicing.models import Operator
from invoicing.terminals import review
from invoicing.terminals.live import unpaid_sessions
from invoicing.terminals.models import MatchState, Terminal, TerminalTransaction
from invoicing.terminals.settlement import import_settlement
from sessions.models import ChargingSession


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ["terminal_id", "vendor", "time_zone", "clock_offset_seconds", "operator"]
    list_filter = ["vendor"]
    search_fields = ["terminal_id"]
    filter_horizontal = ["evses"]
    readonly_fields = ["clock_offset_seconds", "sessions_without_payment"]

    @admin.display(description=_("sessions without payment (7 days)"))
    def sessions_without_payment(self, obj):
        """Unmatched sessions age visibly: each with how long ago it ended."""
        if obj.pk is None:
            return ""
        now = timezone.now()
        rows = [
            (
                s.source_id,
                s.evse.evse_id,
                int((now - s.ended_at).total_seconds() // 3600),
                s.total_gross if s.total_gross is not None else "not priced",
                s.currency,
            )
            for s in unpaid_sessions(obj)[:50]
        ]
        if not rows:
            return "—"
        items = format_html_join("", "<li>{} on {}: ended {} h ago, {} {}</li>", rows)
        return format_html("<ul>{}</ul>", items)


class DecisionForm(forms.ModelForm):
    """What staff decide on a payment in review; the service checks and records it."""

    decision = forms.ChoiceField(
        label=_("decision"),
        required=False,
        choices=[
            ("", "—"),
            ("confirm", _("Confirm (choose the session when in review)")),
            ("reassign", _("Move to another session")),
            ("undo", _("Undo the match")),
        ],
    )
    decide_session = forms.ModelChoiceField(
        label=_("session"),
        queryset=ChargingSession.objects.all(),
        required=False,
        widget=AutocompleteSelect(TerminalTransaction._meta.get_field("session"), admin.site),
        help_text=_("One of the candidates, or any: search by source ID or EVSE ID."),
    )
    why = forms.CharField(label=_("why"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = TerminalTransaction
        fields = []


class SettlementForm(forms.Form):
    operator = forms.ModelChoiceField(queryset=Operator.objects.all(), label=_("operator"))
    vendor = forms.CharField(label=_("vendor"))
    file = forms.FileField(label=_("settlement file (CSV)"))


@admin.register(TerminalTransaction)
class TerminalTransactionAdmin(admin.ModelAdmin):
    form = DecisionForm
    list_display = [
        "transaction_id",
        "kind",
        "terminal",
        "amount",
        "terminal_time",
        "match_state",
        "session",
        "age",
        "match_explanation",
    ]
    list_filter = ["match_state", "kind", "source", "terminal__vendor"]
    search_fields = ["transaction_id", "card_last4", "payment_reference"]
    list_select_related = ["terminal", "entry", "session"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [
        "transaction_id",
        "kind",
        "terminal",
        "entry",
        "authorization",
        "card_brand",
        "card_last4",
        "authorization_code",
        "terminal_time",
        "payment_reference",
        "source",
        "session",
        "match_state",
        "match_explanation",
        "review_candidates",
        "matched_by",
        "matched_at",
        "match_note",
    ]
    change_list_template = "admin/invoicing/terminaltransaction/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("amount"))
    def amount(self, obj):
        return f"{obj.entry.amount} {obj.entry.currency}"

    @admin.display(description=_("waiting"))
    def age(self, obj):
        """How long an undecided payment has waited: unmatched items age visibly."""
        if obj.match_state in (MatchState.MATCHED, MatchState.CONFIRMED):
            return ""
        hours = int((timezone.now() - obj.created_at).total_seconds() // 3600)
        return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"

    def save_model(self, request, obj, form, change):
        decision = form.cleaned_data.get("decision")
        chosen = form.cleaned_data.get("decide_session")
        session = chosen.pk if chosen is not None else None
        why = form.cleaned_data.get("why") or ""
        try:
            if decision == "confirm":
                review.confirm(capture_pk=obj.pk, session_pk=session, user=request.user, why=why)
            elif decision == "reassign":
                review.reassign(capture_pk=obj.pk, session_pk=session, user=request.user, why=why)
            elif decision == "undo":
                review.undo(capture_pk=obj.pk, user=request.user, why=why)
        except DomainError as error:
            show_domain_error(self, request, error)

    def get_urls(self):
        return [
            path(
                "settlement/",
                self.admin_site.admin_view(self.settlement_view),
                name="invoicing_terminaltransaction_settlement",
            ),
            *super().get_urls(),
        ]

    def settlement_view(self, request):
        """Upload a vendor's daily settlement file."""
        form = SettlementForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                text = form.cleaned_data["file"].read().decode("utf-8")
                report = import_settlement(
                    text,
                    operator=form.cleaned_data["operator"],
                    vendor=form.cleaned_data["vendor"],
                    recorded_by=request.user,
                )
            except UnicodeDecodeError:
                self.message_user(request, _("The file is not UTF-8 text."), messages.ERROR)
            except DomainError as error:
                show_domain_error(self, request, error)
            else:
                self.message_user(
                    request,
                    f"{report.rows} rows: {report.created} new, {report.known} already known, "
                    f"{len(report.refused)} refused.",
                    messages.WARNING if report.refused else messages.SUCCESS,
                )
                for reason in report.refused[:20]:
                    self.message_user(request, reason, messages.ERROR)
                return redirect("admin:invoicing_terminaltransaction_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": _("Import a settlement file"),
            "opts": self.model._meta,
        }
        return render(request, "admin/invoicing/terminaltransaction/settlement.html", context)
