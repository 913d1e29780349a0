"""Tariffs (OCPI 2.2.1 JSON) and charging sessions for integrators: push in, read priced."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from cpo_portal.kernel.api.filters import IdFilter, InstantFilter, PeriodFilter
from cpo_portal.kernel.api.formats import (
    ExactJSONRenderer,
    PngRenderer,
    SvgRenderer,
    UrlJSONRenderer,
)
from cpo_portal.kernel.api.framework import IntegratorViewSet
from invoicing.documents.due import mark_sessions_due
from invoicing.documents.issuing import bill_sessions
from invoicing.documents.selectors import billed, unbilled
from invoicing.models import BilledSession, ReceiptRetrieval
from invoicing.output import receipt_links
from sessions.api.serializers import (
    BulkResultSerializer,
    BulkSessionsSerializer,
    NativeSessionSerializer,
    OcpiCdrSerializer,
    OcpiSignedDataSerializer,
    OcpiTariffSerializer,
    SessionSerializer,
)
from sessions.locations import export_location, import_location
from sessions.metering.quarantine import attach_signed_data
from sessions.metering.signed_data import read_ocpi_signed_data
from sessions.models import ChargingSession, Location, Tariff
from sessions.services import (
    IngestOutcome,
    export_tariff,
    import_tariff,
    ingest_sessions,
)

NATIVE = ChargingSession.PayloadFormat.NATIVE
OCPI_CDR = ChargingSession.PayloadFormat.OCPI_CDR


# --- tariffs -------------------------------------------------------------------------------------


@extend_schema(tags=["tariffs"])
class TariffViewSet(IntegratorViewSet):
    """The operator's tariffs as OCPI 2.2.1 JSON; a new version prices only the sessions that
    start while it is valid, never one priced before."""

    lookup_field = "ocpi_id"
    lookup_url_kwarg = "tariff_id"
    lookup_value_regex = "[^/]+"
    serializer_class = OcpiTariffSerializer

    queryset = Tariff.objects.none()

    def scoped_queryset(self, operator):
        # One tariff per OCPI id: its newest version (older ones keep pricing older sessions).
        return Tariff.objects.filter(operator=operator).latest_versions()

    def _import(self, data: Any) -> tuple[Tariff, bool]:
        if not isinstance(data, dict):
            raise ValidationError({"detail": ["The tariff must be a JSON object."]})
        existed = Tariff.objects.filter(operator=self.operator, ocpi_id=data.get("id")).exists()
        tariff = import_tariff(operator=self.operator, data=data)
        return tariff, not existed

    @extend_schema(summary="List tariffs", responses=OcpiTariffSerializer(many=True))
    def list(self, request, *args, **kwargs):
        """Every tariff of the operator as OCPI JSON, newest first."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([export_tariff(tariff=t) for t in page])

    @extend_schema(
        summary="Create or replace a tariff",
        request=OcpiTariffSerializer,
        responses={201: OcpiTariffSerializer, 200: OcpiTariffSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Import an OCPI 2.2.1 tariff: 201 when its id is new, 200 when it replaced one."""
        tariff, created = self._import(request.data)
        return Response(
            export_tariff(tariff=tariff),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(summary="Read a tariff", responses=OcpiTariffSerializer)
    def retrieve(self, request, *args, **kwargs):
        """The tariff as OCPI JSON, numbers exactly as imported."""
        return Response(export_tariff(tariff=self.get_object()))

    @extend_schema(
        summary="Replace (or create) a tariff",
        request=OcpiTariffSerializer,
        responses={200: OcpiTariffSerializer, 201: OcpiTariffSerializer},
    )
    def update(self, request, *args, **kwargs):
        """The body's `id` must be the id in the URL."""
        tariff_id = kwargs[self.lookup_url_kwarg]
        if isinstance(request.data, dict) and request.data.get("id") != tariff_id:
            raise ValidationError({"id": ["Must be the tariff id in the URL."]})
        tariff, created = self._import(request.data)
        return Response(
            export_tariff(tariff=tariff),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --- sessions ------------------------------------------------------------------------------------


class SessionFilter(django_filters.FilterSet):
    period = PeriodFilter(
        field_name="ended_at",
        help_text="Sessions that ended in this month (YYYY-MM) in the operator's time zone, "
        "as the monthly billing run counts them.",
    )
    ended_after = InstantFilter(
        field_name="ended_at", lookup_expr="gte", help_text="Ended at or after (ISO 8601)."
    )
    ended_before = InstantFilter(
        field_name="ended_at", lookup_expr="lt", help_text="Ended before (ISO 8601)."
    )
    customer = IdFilter(field_name="customer_id", help_text="Only this customer's sessions.")
    location = IdFilter(field_name="evse__location_id", help_text="Only this location's sessions.")
    evse_id = django_filters.CharFilter(
        field_name="evse__evse_id", help_text="Only sessions at this EVSE ID."
    )
    status = django_filters.ChoiceFilter(
        choices=ChargingSession.Status.choices, help_text="completed or active."
    )
    invoiced = django_filters.BooleanFilter(
        method="filter_invoiced",
        help_text="true: on a live document; false: not (yet) invoiced, e.g. in collect-only "
        "mode, or credited without a replacement.",
    )
    invoice = IdFilter(
        method="filter_invoice", help_text="Only sessions billed (or credited) by this document."
    )
    source_id = django_filters.CharFilter(help_text="The session with this source id.")

    class Meta:
        model = ChargingSession
        fields = []

    def filter_invoiced(self, queryset, name, value):
        if value is None:
            return queryset
        return billed(queryset) if value else unbilled(queryset)

    def filter_invoice(self, queryset, name, value):
        return queryset.filter(
            Exists(BilledSession.objects.filter(session=OuterRef("pk"), document_id=value))
        )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@extend_schema(tags=["sessions"])
class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IntegratorViewSet):
    """Charging sessions: sent by the CPMS (native records or OCPI CDRs), priced on arrival."""

    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    queryset = ChargingSession.objects.none()

    def scoped_queryset(self, operator):
        billed_here = billed(ChargingSession.objects.filter(pk=OuterRef("pk")))
        return (
            ChargingSession.objects.filter(operator=operator)
            .select_related("customer", "token", "evse__location", "tariff")
            .prefetch_related(
                "charge_lines",
                Prefetch(
                    "billings",
                    queryset=BilledSession.objects.select_related("document").order_by("id"),
                ),
            )
            .annotate(invoiced=Exists(billed_here))
        )

    def _ingest(self, payloads: list[Any], payload_format: str) -> list[IngestOutcome]:
        """Ingest through the service; items the database could not hold are refused first."""
        operator = self.operator
        outcomes: dict[int, IngestOutcome] = {}
        clean: list[tuple[int, Any]] = []
        for index, payload in enumerate(payloads):
            if _has_nul(payload):
                outcomes[index] = IngestOutcome(
                    index,
                    "",
                    "rejected",
                    errors={"non_field_errors": ["Text may not contain NUL characters."]},
                )
            else:
                clean.append((index, payload))
        ingested = ingest_sessions(
            operator=operator,
            source=self.api_key.integrator.session_source,
            payloads=[payload for _index, payload in clean],
            payload_format=payload_format,
        )
        for (index, _payload), outcome in zip(clean, ingested, strict=True):
            outcome.index = index
            outcomes[index] = outcome
        # Sources are unique per integrator, but staff imports may have used the same name for
        # another operator: such an id is refused rather than shown.
        duplicate_ids = [o.session_id for o in outcomes.values() if o.status == "duplicate"]
        foreign = set(
            ChargingSession.objects.filter(pk__in=duplicate_ids)
            .exclude(operator=operator)
            .values_list("pk", flat=True)
        )
        for outcome in outcomes.values():
            if outcome.session_id in foreign:
                outcome.status, outcome.session_id = "rejected", None
                outcome.errors = {"source_id": ["This source id cannot be used."]}
        return [outcomes[index] for index in range(len(payloads))]

    def _single(self, data: Any, payload_format: str) -> Response:
        (outcome,) = self._ingest([data], payload_format)
        if not outcome.ok:
            raise ValidationError(outcome.errors)
        session = self.get_queryset().get(pk=outcome.session_id)
        return Response(
            self.get_serializer(session).data,
            status=status.HTTP_201_CREATED if outcome.status == "created" else status.HTTP_200_OK,
        )

    @extend_schema(summary="Mark a session due for a document", request=None)
    @action(detail=True, methods=["post"], url_path="due")
    def due(self, request, *args, **kwargs):
        """Staff's decision that a session not billed yet gets a document after all (it was
        stored under collect-only or without a document): a per-session customer gets it now,
        a monthly one on the next monthly run. A billed session stays as it is."""
        session = self.get_object()
        mark_sessions_due(operator=self.operator, session_ids=[session.pk])
        return Response(self.get_serializer(self.get_queryset().get(pk=session.pk)).data)

    @extend_schema(
        summary="Send a session's signed meter data afterwards",
        request=OcpiSignedDataSerializer,
        responses={200: SessionSerializer},
    )
    @action(detail=True, methods=["post"], url_path="signed-data")
    def signed_data(self, request, *args, **kwargs):
        """OCPI SignedData that arrive after their session are stored as received and verified;
        valid ones release a quarantined session, which is then priced and billed. A session's
        signed data are never replaced (409)."""
        session = self.get_object()
        signed, errors = read_ocpi_signed_data(request.data)
        if errors:
            raise ValidationError(errors)
        if signed is None:
            raise ValidationError({"signed_data": ["Send an OCPI SignedData object."]})
        attach_signed_data(session=session, signed=signed)
        return Response(self.get_serializer(self.get_queryset().get(pk=session.pk)).data)

    @extend_schema(summary="List sessions")
    def list(self, request, *args, **kwargs):
        """Newest first, each with its customer's invoice details and its priced breakdown."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a session")
    def retrieve(self, request, *args, **kwargs):
        """The session with its breakdown and the documents that bill it."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Send a session (native record)",
        request=NativeSessionSerializer,
        responses={
            201: SessionSerializer,
            200: OpenApiResponse(SessionSerializer, description="Stored before; unchanged."),
        },
    )
    def create(self, request, *args, **kwargs):
        """Priced on arrival; 201 when stored, 200 with the stored session when its source id
        was sent before (nothing changes), 400 with one message per field when refused."""
        return self._single(request.data, NATIVE)

    @extend_schema(
        summary="Send a session (OCPI 2.2.1 CDR)",
        request=OcpiCdrSerializer,
        responses={
            201: SessionSerializer,
            200: OpenApiResponse(SessionSerializer, description="Stored before; unchanged."),
        },
    )
    @action(detail=False, methods=["post"], url_path="cdrs")
    def cdr(self, request, *args, **kwargs):
        """The CDR's `id` is the source id; its first tariff object is the price snapshot."""
        return self._single(request.data, OCPI_CDR)

    @extend_schema(
        summary="Send many sessions",
        request=BulkSessionsSerializer,
        responses={200: BulkResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request, *args, **kwargs):
        """Every item gets its own result (created, duplicate or rejected with its errors);
        refused items store nothing, the others are stored."""
        serializer = BulkSessionsSerializer(data=_bulk_shape(request.data))
        serializer.is_valid(raise_exception=True)
        outcomes = self._ingest(
            request.data["sessions"],
            OCPI_CDR if serializer.validated_data["format"] == "ocpi_cdr" else NATIVE,
        )
        counts = {status_: 0 for status_ in ("created", "duplicate", "rejected")}
        for outcome in outcomes:
            counts[outcome.status] += 1
        return Response(
            {
                "created": counts["created"],
                "duplicates": counts["duplicate"],
                "rejected": counts["rejected"],
                "results": [
                    {
                        "index": o.index,
                        "source_id": o.source_id,
                        "status": o.status,
                        "session_id": o.session_id,
                        "errors": o.errors,
                    }
                    for o in outcomes
                ],
            }
        )

    @extend_schema(
        summary="Bill a session on no live document",
        request=None,
        responses={
            201: OpenApiResponse(description='The documents issued: {"documents": [...]}.'),
            400: OpenApiResponse(
                description="Refused or held: one message per missing invoice-detail field."
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="bill")
    def bill(self, request, *args, **kwargs):
        """Bills a credited session left without a replacement, or a per-session one held for
        missing invoice details; 400 names each field still missing."""
        session = self.get_object()
        documents = bill_sessions(session_ids=[session.pk])
        return Response(
            {
                "documents": [
                    {
                        "id": d.pk,
                        "number": d.display_number,
                        "kind": d.kind,
                        "total_gross": str(d.total_gross),
                        "currency": d.currency,
                    }
                    for d in documents
                ]
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="The QR code of a session's public receipt page",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["png", "svg", "url"],
                description="png or svg: the QR code picture; url: the page's address as JSON.",
            )
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.BINARY,
                description='format=png or svg: the QR code picture; format=url: {"url": "..."}, '
                "the public receipt page (no account needed).",
            ),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="receipt-qr",
        renderer_classes=[UrlJSONRenderer, ExactJSONRenderer, PngRenderer, SvgRenderer],
    )
    def receipt_qr(self, request, *args, **kwargs):
        """The session's receipt QR code for the terminal's screen or slip: it leads to the
        public receipt page, which says "being prepared" until the receipt is issued."""
        session = self.get_object()
        url = receipt_links.receipt_url(session.pk, base_url=request.build_absolute_uri("/"))
        kind = request.accepted_renderer.format
        receipt_links.log_retrieval(session_id=session.pk, what=ReceiptRetrieval.What.QR)
        if kind == "png":
            return HttpResponse(receipt_links.qr_png(url), content_type="image/png")
        if kind == "svg":
            return HttpResponse(receipt_links.qr_svg(url), content_type="image/svg+xml")
        return Response({"url": url})

    def get_serializer_class(self):
        return SessionSerializer


def _bulk_shape(data: Any) -> Any:
    """The envelope checked by the serializer; items are checked one by one by the ingest."""
    if not isinstance(data, dict):
        return data
    sessions = data.get("sessions")
    shape = dict(data)
    if isinstance(sessions, list):
        # Items that are not objects are each rejected by the ingest, not the whole request.
        shape["sessions"] = [{} for _item in sessions]
    return shape


# --- locations -----------------------------------------------------------------------------------


@extend_schema(tags=["locations"])
class LocationViewSet(IntegratorViewSet):
    """Sites as OCPI 2.2.1 Location JSON: create or update one with its EVSEs by its `id`."""

    queryset = Location.objects.none()
    # OCPI Location JSON, read and written as is; OPTIONS describes no form fields.
    serializer_class = serializers.Serializer

    def scoped_queryset(self, operator):
        return Location.objects.filter(operator=operator).prefetch_related("evses")

    @extend_schema(
        summary="List locations",
        operation_id="locations_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([export_location(loc) for loc in page])

    @extend_schema(
        summary="Create or update a location",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
    )
    def create(self, request, *args, **kwargs):
        """201 when the location's id is new, 200 when it updated the known one."""
        location, created = import_location(operator=self.operator, data=request.data)
        return Response(export_location(location), status=201 if created else 200)

    @extend_schema(summary="Read a location", responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        return Response(export_location(self.get_object()))
