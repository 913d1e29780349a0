"""Back-office screens for locations, tariffs and priced charging sessions."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cpo_portal.kernel import formatting
from cpo_portal.kernel.admin.errors import show_domain_error
from cpo_portal.kernel.admin.exports import ExportAdminMixin
from cpo_portal.kernel.admin.lists import (
    DateRangeFilter,
    EstimatedCountPaginator,
    RelatedAutocompleteFilter,
)
from cpo_portal.kernel.admin.times import LocalTimesAdminMixin, local_time_column
from cpo_portal.kernel.errors import DomainError
from cpo_portal.kernel.files import bytes_response
from cpo_portal.kernel.periods import local_date, session_time_zone
from invoicing.documents.due import mark_sessions_due
from invoicing.documents.issuing import bill_sessions
from invoicing.documents.repricing import reprice_unbilled_session
from invoicing.documents.selectors import billed, unbilled
from invoicing.models import InvoicingSettings, Operator
from invoicing.tax.rules import TaxTable, load_table, vat_disagreements
from sessions.forms import TariffImportForm, pretty_json
from sessions.metering import transparency
from sessions.metering.quarantine import verify_again, write_off
from sessions.models import (
    EVSE,
    ChargingSession,
    Location,
    SessionChargeLine,
    SignedMeterData,
    Tariff,
)
from sessions.pricing import PricingError
from sessions.services import SessionQuarantined, dump_json, export_tariff, import_tariff

REPRICE_LIMIT = 1000
REFUSED_IDS_SHOWN = 20


def json_download(data: object, filename: str) -> HttpResponse:
    """A JSON attachment whose numbers are exactly the stored ones."""
    response = HttpResponse(dump_json(data), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


class EVSEInline(admin.StackedInline):
    model = EVSE
    extra = 0
    fields = [
        ("evse_id", "max_power_kw"),
        ("calibration_law_relevant", "clock_legally_relevant"),
        "meter_public_key",
    ]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "country", "time_zone"]
    list_filter = ["country"]
    search_fields = ["name", "city", "evses__evse_id"]
    inlines = [EVSEInline]


# --- tariffs -------------------------------------------------------------------------------


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Tariffs are OCPI JSON documents: imported and exported whole, never edited field by field."""

    form = TariffImportForm
    list_display = ["ocpi_id", "currency", "valid_from", "valid_until", "operator", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["ocpi_id"]
    list_select_related = ["operator"]
    autocomplete_fields = ["operator"]
    show_full_result_count = False
    actions = ["export_ocpi_json"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            json_fields = ["ocpi_json_text", "ocpi_file"]
            return [(None, {"fields": ["operator"]}), (_("OCPI JSON"), {"fields": json_fields})]
        if self.has_change_permission(request, obj):
            json_fields = ["ocpi_json_text", "ocpi_file"]
        else:
            json_fields = ["ocpi_json_pretty"]  # view-only staff see the JSON, no form
        return [
            (
                None,
                {
                    "fields": [
                        "operator",
                        "ocpi_id",
                        "currency",
                        "valid_from",
                        "valid_until",
                        "updated_at",
                    ]
                },
            ),
            (_("OCPI JSON"), {"fields": json_fields}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "operator",
            "ocpi_id",
            "currency",
            "valid_from",
            "valid_until",
            "updated_at",
            "ocpi_json_pretty",
        ]

    @admin.display(description=_("OCPI JSON"))
    def ocpi_json_pretty(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(export_tariff(tariff=obj)))

    def save_form(self, request, form, change):
        """The checked JSON, imported by the tariff service (it creates or replaces the row)."""
        form.save(commit=False)  # no model fields of its own; readies save_related
        form.instance = import_tariff(operator=form.operator, data=form.tariff_data)
        return form.instance

    def save_model(self, request, obj, form, change):
        """Nothing left to write: save_form imported the tariff."""

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request, object_id):
        """One tariff as an OCPI JSON file."""
        tariff = self.get_object(request, object_id)
        if tariff is None:
            raise Http404(_("No tariff with this ID."))
        if not self.has_view_permission(request, tariff):
            raise PermissionDenied
        return json_download(
            export_tariff(tariff=tariff), get_valid_filename(f"tariff-{tariff.ocpi_id}.json")
        )

    @admin.action(description=_("Export selected tariffs as OCPI JSON"), permissions=["view"])
    def export_ocpi_json(self, request, queryset):
        tariffs = [export_tariff(tariff=tariff) for tariff in queryset.order_by("ocpi_id", "pk")]
        return json_download(tariffs, "tariffs.json")


# --- sessions ------------------------------------------------------------------------------


class SessionChargeLineInline(admin.TabularInline):
    model = SessionChargeLine
    extra = 0
    can_delete = False
    fields = [
        "component",
        "quantity",
        "unit",
        "unit_price",
        "net",
        "vat_category",
        "vat_rate",
        "vat",
        "gross",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class InvoicedFilter(admin.SimpleListFilter):
    title = _("invoiced")
    parameter_name = "invoiced"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return billed(queryset)
        if self.value() == "no":
            return unbilled(queryset)
        return queryset


class LocationFilter(RelatedAutocompleteFilter):
    """A location picked in a search box: a network has too many for one link each."""

    title = _("location")
    parameter_name = "location"
    lookup = "evse__location"
    source_field = "charging.EVSE.location"


@admin.register(ChargingSession)
class ChargingSessionAdmin(LocalTimesAdminMixin, ExportAdminMixin, admin.ModelAdmin):
    """Sessions are facts from the CPMS: they arrive through ingest and are only re-priced."""

    exports = (
        (
            "sessions",
            _("sessions with breakdown"),
            _("Export selected sessions with breakdown as %(format)s"),
        ),
    )

    list_display = [
        "source_id",
        "started_local",
        "ended_local",
        "evse",
        "customer",
        "energy_kwh",
        "total_gross",
        "currency",
        "status",
        "metering",
        "vat_check",
    ]
    # At ten million sessions every filter is an index scan and builds its choices without
    # scanning the sessions; no date_hierarchy, whose year and month links are DISTINCT queries
    # over every session (docs/operations.md, "Admin lists at scale").
    list_filter = [
        ("started_at", DateRangeFilter),
        "status",
        "quarantine",
        "meter_verdict",
        InvoicedFilter,
        LocationFilter,
        "evse__location__country",
    ]
    search_fields = ["source_id", "evse__evse_id", "customer__email"]
    search_help_text = _(
        "The beginning of a source ID, a whole EVSE ID or a customer's whole e-mail address."
    )
    list_select_related = ["evse__location", "customer"]
    inlines = [SessionChargeLineInline]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice over every session
    actions = ["reprice", "mark_due", "bill_again", "verify_signed_data", "write_off_sessions"]
    _tax_table: TaxTable | None = None

    time_zone_note = _("Times on this page are the location's local time, %(zone)s.")
    started_local = local_time_column("started_at", _("Started (location time)"), session_time_zone)
    ended_local = local_time_column("ended_at", _("Ended (location time)"), session_time_zone)

    def time_zone_of(self, obj):
        return session_time_zone(obj)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("charge_lines")

    def changelist_view(self, request, extra_context=None):
        self._tax_table = load_table()  # the rules, read once per page
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("VAT vs tax rules"))
    def vat_check(self, obj):
        """Flags a session whose priced VAT (the tariff's own) disagrees with the tax rule;
        its documents charge the rule's VAT."""
        location = obj.evse.location
        differences = vat_disagreements(
            self._tax_table or load_table(),
            country=location.country,
            ended_on=local_date(obj.ended_at, location.time_zone) if obj.ended_at else None,
            lines=obj.charge_lines.all(),
        )
        if not differences:
            return "\u2713"
        return format_html("<strong>\u26a0 {}</strong>", "; ".join(differences))

    fieldsets = [
        (
            _("Session"),
            {
                "fields": [
                    "operator",
                    "source",
                    "source_id",
                    "payload_format",
                    "status",
                    "customer",
                    "token",
                    "location",
                    "evse",
                    "started_at",
                    "ended_at",
                    "received_at",
                ]
            },
        ),
        (_("Consumption"), {"fields": ["energy", "charging_time", "idle_time"]}),
        (
            _("Signed meter data (Eichrecht)"),
            {"fields": ["meter_verdict", "quarantine", "findings", "signed_readings"]},
        ),
        (
            _("Price"),
            {
                "fields": [
                    "tariff",
                    "currency",
                    "total_net",
                    "total_vat",
                    "total_gross",
                    "priced_at",
                    "issuing_due",
                ]
            },
        ),
        (
            _("As received"),
            {
                "classes": ["collapse"],
                "fields": [
                    "charging_periods",
                    "ocpi_totals",
                    "tariff_snapshot_json",
                    "raw_payload",
                ],
            },
        ),
    ]
    readonly_fields = [field for _title, options in fieldsets for field in options["fields"]]

    @property
    def media(self):
        return super().media + LocationFilter.media()

    def get_search_results(self, request, queryset, search_term):
        # The whole term, prefix-anchored or exact: Django's default (every word anywhere in
        # each field, across joins) is a sequential scan over all sessions.
        return queryset.search(search_term), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Sessions are facts from the CPMS and may be on issued documents: never deleted here.
        return False

    def has_reprice_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    def has_bill_permission(self, request):
        return request.user.has_perm("invoicing.change_document")

    @admin.action(
        description=_("Bill selected sessions (credited or held for details)"),
        permissions=["bill"],
    )
    def bill_again(self, request, queryset):
        """Bills credited sessions left without a replacement and sessions held for missing
        invoice details; a refusal (still held: the missing fields) is shown, nothing issued."""
        count = queryset.count()
        if count > REPRICE_LIMIT:
            self.message_user(
                request,
                _("Select at most %(limit)d sessions at a time (%(count)d selected).")
                % {"limit": REPRICE_LIMIT, "count": count},
                messages.ERROR,
            )
            return None
        try:
            documents = bill_sessions(session_ids=list(queryset.values_list("pk", flat=True)))
        except DomainError as exc:
            show_domain_error(self, request, exc)
            return None
        self.message_user(
            request,
            _("Issued: %(documents)s.") % {"documents": ", ".join(str(d) for d in documents)},
            messages.SUCCESS,
        )
        return None

    @admin.display(description=_("metering"))
    def metering(self, obj):
        """The signed data's verdict at a glance; a quarantined session says so in bold."""
        if obj.quarantine == ChargingSession.Quarantine.OPEN:
            return format_html("<strong>{}</strong>", _("quarantined"))
        if obj.quarantine == ChargingSession.Quarantine.WRITTEN_OFF:
            return _("written off")
        return {
            ChargingSession.MeterVerdict.VALID: "\u2713 " + str(_("signed")),
            ChargingSession.MeterVerdict.INVALID: "\u26a0 " + str(_("signature failed")),
        }.get(obj.meter_verdict, "")

    @admin.display(description=_("findings"))
    def findings(self, obj):
        if not obj.meter_issues:
            return "-"
        return format_html_join("", "<p>{}</p>", ((issue,) for issue in obj.meter_issues))

    @admin.display(description=_("signed readings"))
    def signed_readings(self, obj):
        meter_data = SignedMeterData.objects.filter(session=obj).first()
        if meter_data is None:
            return "-"
        readings = (
            formatting.meter_readings_text(
                meter_data.meter_serial, meter_data.start_kwh, meter_data.end_kwh
            )
            if meter_data.end_kwh is not None
            else meter_data.meter_serial
        )
        return format_html(
            '{} · <a href="{}">{}</a>',
            readings,
            reverse("admin:charging_chargingsession_signed_data", args=[obj.pk]),
            _("Transparenzsoftware file (XML)"),
        )

    def get_urls(self):
        return [
            path(
                "<int:session_id>/signed-data/",
                self.admin_site.admin_view(self.signed_data_view),
                name="charging_chargingsession_signed_data",
            ),
            *super().get_urls(),
        ]

    def signed_data_view(self, request, session_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        meter_data = (
            SignedMeterData.objects.filter(session_id=session_id)
            .select_related("session__evse")
            .first()
        )
        if meter_data is None:
            raise Http404("This session has no signed meter data.")
        data, name, content_type = transparency.download(meter_data)
        return bytes_response(data, name, content_type=content_type)

    @admin.action(
        description=_("Verify signed meter data again (release when valid)"),
        permissions=["reprice"],
    )
    def verify_signed_data(self, request, queryset):
        """After the EVSE's key is registered or corrected: valid data release the session
        from quarantine (priced, then billed); the rest keep their reasons, brought up to date."""
        released = still = 0
        for session in queryset.exclude(quarantine=ChargingSession.Quarantine.WRITTEN_OFF)[
            :REPRICE_LIMIT
        ]:
            try:
                session = verify_again(session=session)
            except DomainError as exc:
                show_domain_error(self, request, exc)
                continue
            if session.quarantine == ChargingSession.Quarantine.OPEN:
                still += 1
            else:
                released += 1
        self.message_user(
            request,
            _("Verified again: %(released)d priced, %(still)d still quarantined.")
            % {"released": released, "still": still},
            messages.SUCCESS if not still else messages.WARNING,
        )

    @admin.action(
        description=_("Write off quarantined sessions (never billed)"), permissions=["reprice"]
    )
    def write_off_sessions(self, request, queryset):
        """Staff decide, with a reason, that quarantined sessions are never billed."""
        quarantined = queryset.filter(quarantine=ChargingSession.Quarantine.OPEN)
        reason = request.POST.get("reason", "").strip()
        if "apply" in request.POST and reason:
            count = 0
            for session in quarantined[:REPRICE_LIMIT]:
                write_off(session=session, reason=reason)
                count += 1
            self.message_user(
                request,
                ngettext("Wrote off %d session.", "Wrote off %d sessions.", count) % count,
                messages.SUCCESS,
            )
            return None
        if not quarantined.exists():
            self.message_user(
                request, _("None of the selected sessions is quarantined."), messages.ERROR
            )
            return None
        return TemplateResponse(
            request,
            "admin/charging/write_off.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Write off quarantined sessions"),
                "sessions": quarantined[:REPRICE_LIMIT],
                "missing_reason": "apply" in request.POST,
                "opts": self.opts,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.display(description=_("tariff snapshot"))
    def tariff_snapshot_json(self, obj):
        return obj.tariff_snapshot.ocpi_json

    @admin.display(description=_("location"))
    def location(self, obj):
        return obj.evse.location

    @admin.display(description=_("energy"))
    def energy(self, obj):
        return formatting.energy_text(obj.energy_kwh, localized=False)

    @admin.display(description=_("charging time (h:mm)"))
    def charging_time(self, obj):
        return formatting.clock_duration(obj.charging_seconds or 0)

    @admin.display(description=_("idle time (h:mm)"))
    def idle_time(self, obj):
        return formatting.clock_duration(obj.idle_seconds or 0)

    @admin.action(
        description=_("Mark selected sessions due for a document"), permissions=["reprice"]
    )
    def mark_due(self, request, queryset):
        """Sessions stored under collect-only (or without "always issue") billed after all."""
        by_operator: dict[int, list[int]] = defaultdict(list)
        for session_id, operator_id in queryset.values_list("pk", "operator_id")[:REPRICE_LIMIT]:
            by_operator[operator_id].append(session_id)
        issued = 0
        for operator in Operator.objects.filter(pk__in=by_operator):
            issued += len(
                mark_sessions_due(operator=operator, session_ids=by_operator[operator.pk])
            )
        self.message_user(
            request,
            _(
                "Sessions not billed yet are due for a document: %(issued)d issued now, the "
                "monthly customers' ones on the next monthly run."
            )
            % {"issued": issued},
            messages.SUCCESS,
        )

    @admin.action(description=_("Re-price selected sessions"), permissions=["reprice"])
    def reprice(self, request, queryset):
        count = queryset.count()
        if count > REPRICE_LIMIT:
            self.message_user(
                request,
                _("Select at most %(limit)d sessions at a time (%(count)d selected).")
                % {"limit": REPRICE_LIMIT, "count": count},
                messages.ERROR,
            )
            return None
        repriced = 0
        refused: dict[str, list[str]] = defaultdict(list)
        sessions = queryset.select_related("evse__location", "operator__invoicing_settings")
        for session in sessions.order_by("pk"):
            try:
                reprice_unbilled_session(session=session)
            except (PricingError, SessionQuarantined) as exc:
                refused[str(exc)].append(str(session))
            except InvoicingSettings.DoesNotExist:
                refused[str(_("The operator has no invoicing settings (VAT rates)."))].append(
                    str(session)
                )
            else:
                repriced += 1
        if repriced:
            self.message_user(
                request,
                ngettext("Re-priced %d session.", "Re-priced %d sessions.", repriced) % repriced,
                messages.SUCCESS,
            )
        for reason, names in refused.items():
            shown = ", ".join(names[:REFUSED_IDS_SHOWN])
            if len(names) > REFUSED_IDS_SHOWN:
                shown += ", …"
            self.message_user(
                request,
                ngettext(
                    "Refused %(count)d session (%(names)s): %(reason)s",
                    "Refused %(count)d sessions (%(names)s): %(reason)s",
                    len(names),
                )
                % {"count": len(names), "names": shown, "reason": reason},
                messages.ERROR,
            )
        return None
