"""SEPA direct-debit collection runs for integrators: start one for a date, read its counts,
download its pain.008 (docs/api.md, "Endpoints")."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from cpo_portal.kernel.api.formats import ExactJSONRenderer, XmlFileRenderer
from cpo_portal.kernel.api.framework import IntegratorViewSet
from cpo_portal.kernel.files import file_response
from invoicing.payments.collections import collect
from invoicing.payments.models import CollectionRun


class CollectionRunSerializer(serializers.ModelSerializer):
    """One pain.008 file collecting every invoice due by its date under the customers' mandates."""

    total = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Sum of the collections, in EUR."
    )
    has_file = serializers.SerializerMethodField(help_text="False when nothing was due.")

    class Meta:
        model = CollectionRun
        fields = [
            "id",
            "collection_date",
            "state",
            "collection_count",
            "first_count",
            "recurring_count",
            "total",
            "has_file",
            "created_at",
        ]
        extra_kwargs = {
            "id": {"help_text": "The run's id."},
            "collection_date": {"help_text": "The date the bank collects, YYYY-MM-DD."},
            "collection_count": {"help_text": "Invoices collected in this run."},
            "created_at": {"help_text": "When the run was started."},
            "state": {"help_text": "written (a file) or empty (nothing was due)."},
            "first_count": {"help_text": "Collections sent as FRST (a mandate's first)."},
            "recurring_count": {"help_text": "Collections sent as RCUR."},
        }

    def get_has_file(self, run) -> bool:
        return bool(run.file)


class CollectionRunRequestSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The collection date (today or later), YYYY-MM-DD.")


@extend_schema(tags=["payments"])
class CollectionRunViewSet(mixins.RetrieveModelMixin, IntegratorViewSet):
    """Direct-debit collection runs of the operator."""

    serializer_class = CollectionRunSerializer
    queryset = CollectionRun.objects.none()

    def scoped_queryset(self, operator):
        return CollectionRun.objects.filter(operator=operator)

    @extend_schema(summary="Read a collection run")
    def retrieve(self, request, *args, **kwargs):
        """State, FRST/RCUR counts and total."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Start a collection run",
        request=CollectionRunRequestSerializer,
        responses={201: CollectionRunSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Collects every open EUR invoice due by the date of customers with an active mandate
        in one pain.008; again for the same date collects nothing twice (state empty). 400 when
        the date is past or the operator's creditor identifier or IBAN is missing."""
        serializer = CollectionRunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = collect(operator=self.operator, collection_date=serializer.validated_data["date"])
        return Response(CollectionRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Download a collection run's pain.008",
        responses={
            (200, "application/xml"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The pain.008.001.02 file for the bank."
            ),
            404: OpenApiResponse(description="Nothing was due: the run wrote no file."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="file",
        renderer_classes=[ExactJSONRenderer, XmlFileRenderer],
    )
    def file(self, request, *args, **kwargs):
        """The file exactly as written (validated against the schema)."""
        run = self.get_object()
        if not run.file:
            return Response(
                {"detail": "Nothing was due: this run wrote no file."},
                status=status.HTTP_404_NOT_FOUND,
            )
        return file_response(
            run.file,
            f"pain008-{run.collection_date:%Y-%m-%d}-{run.pk}.xml",
            as_attachment=True,
            content_type="application/xml",
        )
