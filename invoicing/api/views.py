"""Documents, their PDFs, credit notes and payments, and billing runs, for integrators."""

from __future__ import annotations

import django_filters
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from kombu.exceptions import OperationalError as BrokerError
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from cpo_portal.kernel.api.filters import IdFilter
from cpo_portal.kernel.api.framework import (
    ExactJSONRenderer,
    IntegratorViewSet,
    PdfRenderer,
    XmlFileRenderer,
    ZipRenderer,
)
from cpo_portal.kernel.errors import InvalidInput
from cpo_portal.kernel.files import bytes_response, file_response
from cpo_portal.kernel.periods import parse_period
from invoicing.accounting.datev.export import export_datev
from invoicing.api.serializers import (
    BillingRunErrorSerializer,
    BillingRunRequestSerializer,
    BillingRunSerializer,
    CreditNoteRequestSerializer,
    CreditNoteResultSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
    PaymentSerializer,
    WithdrawalRequestSerializer,
)
from invoicing.billing.runs import queue_billing_run
from invoicing.documents.issuing import issue_credit_note, withdraw_pro_forma
from invoicing.models import (
    BilledSession,
    BillingRun,
    Document,
    DocumentKind,
    DocumentStatus,
    EInvoice,
)
from invoicing.output import emails as delivery
from invoicing.output import pay_links
from invoicing.output.pdf import latest_file
from invoicing.payments import checkout
from invoicing.payments.recording import record_payment

# How long a client should wait before asking again for a PDF that is still being rendered.
PDF_RETRY_AFTER_SECONDS = 30


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The work could not be queued; try again shortly."


class InvoiceFilter(django_filters.FilterSet):
    issued_from = django_filters.DateFilter(
        field_name="issue_date", lookup_expr="gte", help_text="Issued on or after (YYYY-MM-DD)."
    )
    issued_to = django_filters.DateFilter(
        field_name="issue_date", lookup_expr="lte", help_text="Issued on or before (YYYY-MM-DD)."
    )
    status = django_filters.ChoiceFilter(
        choices=[c for c in DocumentStatus.choices if c[0] != DocumentStatus.DRAFT],
        help_text="issued, paid, overdue or credited.",
    )
    kind = django_filters.ChoiceFilter(
        choices=DocumentKind.choices, help_text="invoice, pro_forma, sales_receipt, credit_note."
    )
    customer = IdFilter(field_name="customer_id", help_text="Only this customer's documents.")
    number = django_filters.CharFilter(
        field_name="display_number", help_text="The document with this number, e.g. INV-000042."
    )

    class Meta:
        model = Document
        fields = []


@extend_schema(tags=["invoices"])
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IntegratorViewSet):
    """Every issued document of the operator: invoices, pro formas, receipts, credit notes."""

    filterset_class = InvoiceFilter

    queryset = Document.objects.none()

    def scoped_queryset(self, operator):
        documents = (
            Document.objects.filter(operator=operator)
            .exclude(status=DocumentStatus.DRAFT)
            # The credit note cancelling a document, in the page's own query (an index probe
            # per row) instead of a prefetch and a related manager per row.
            .annotate(
                credit_note_id=Subquery(
                    Document.objects.filter(credited_document=OuterRef("pk"))
                    .order_by("pk")
                    .values("pk")[:1]
                )
            )
        )
        return self._with_details(documents) if self.action == "retrieve" else documents

    @staticmethod
    def _with_details(documents):
        """Lines, payments and sessions with their breakdown in four queries, whatever the size."""
        return documents.select_related("profile").prefetch_related(
            "lines",
            "payments",
            Prefetch(
                "billed_sessions",
                queryset=BilledSession.objects.select_related("session__evse")
                .prefetch_related("session__charge_lines")
                .order_by("session__started_at", "session_id"),
            ),
        )

    def get_serializer_class(self):
        return InvoiceDetailSerializer if self.action == "retrieve" else InvoiceSerializer

    def _detail(self, document: Document) -> dict:
        fresh = self._with_details(self.get_queryset()).get(pk=document.pk)
        return InvoiceDetailSerializer(fresh, context=self.get_serializer_context()).data

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors of the PDF and XML downloads are JSON even when the client asked for a file.
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), PdfRenderer | XmlFileRenderer
        ):
            request.accepted_renderer = ExactJSONRenderer()
            request.accepted_media_type = ExactJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(summary="List documents")
    def list(self, request, *args, **kwargs):
        """Newest first; filter by issue-date range, status, kind, customer or number."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a document")
    def retrieve(self, request, *args, **kwargs):
        """With its lines, VAT summary, every session's breakdown and its payments."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Download a document's PDF",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="PDF."),
            409: OpenApiResponse(
                description="The PDF is still being rendered; retry after Retry-After seconds."
            ),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="pdf",
        renderer_classes=[ExactJSONRenderer, PdfRenderer],
    )
    def pdf(self, request, *args, **kwargs):
        """The stored PDF (the newest revision); it is never rendered in the request."""
        document = self.get_object()
        document_file = latest_file(document)
        if document_file is None:
            return Response(
                {"detail": "The PDF is still being rendered; try again shortly."},
                status=status.HTTP_409_CONFLICT,
                headers={"Retry-After": str(PDF_RETRY_AFTER_SECONDS)},
            )
        return file_response(
            document_file.file,
            delivery.attachment_name(document),
            as_attachment=True,
            content_type="application/pdf",
        )

    @extend_schema(
        summary="Download a document's e-invoice XML",
        responses={
            (200, "application/xml"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The EN 16931 XML (XRechnung CII/UBL, or the XML in a Factur-X PDF).",
            ),
            404: OpenApiResponse(description="The document was issued without an e-invoice."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="einvoice",
        renderer_classes=[ExactJSONRenderer, XmlFileRenderer],
    )
    def einvoice(self, request, *args, **kwargs):
        """The e-invoice XML as issued (validated before issue); 404 when there is none."""
        document = self.get_object()
        einvoice = EInvoice.objects.filter(document=document).select_related("document").first()
        if einvoice is None:
            return Response(
                {"detail": "This document was issued without an e-invoice."},
                status=status.HTTP_404_NOT_FOUND,
            )
        return bytes_response(
            bytes(einvoice.xml), einvoice.filename, content_type="application/xml"
        )

    @extend_schema(
        summary="Cancel a document with a credit note",
        request=CreditNoteRequestSerializer,
        responses={201: CreditNoteResultSerializer},
    )
    @action(detail=True, methods=["post"], url_path="credit-note")
    def credit_note(self, request, *args, **kwargs):
        """Every line negated, its own number; the document becomes credited. 409 when it is a
        credit note or already credited."""
        document = self.get_object()
        serializer = CreditNoteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A document that may not be credited (allowed_actions) is a state conflict: 409.
        credit_note, replacement = issue_credit_note(
            document=document,
            reason=serializer.validated_data["reason"],
            reissue=serializer.validated_data["reissue"],
            reprice=serializer.validated_data["reprice"],
        )
        return Response(
            {
                "credit_note": self._detail(credit_note),
                "replacement": self._detail(replacement) if replacement else None,
            },
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Withdraw a pro forma invoice",
        request=WithdrawalRequestSerializer,
        responses={200: InvoiceDetailSerializer},
    )
    @action(detail=True, methods=["post"], url_path="withdraw")
    def withdraw(self, request, *args, **kwargs):
        """No credit note and no VAT: the pro forma becomes withdrawn (reason, who, when) and
        its sessions can be billed again. 409 for any other kind or a withdrawn one."""
        document = self.get_object()
        serializer = WithdrawalRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = withdraw_pro_forma(
            document=document,
            reason=serializer.validated_data["reason"],
            withdrawn_by_name=f"API: {request.auth.integrator} ({request.auth.name})",
        )
        return Response(self._detail(document))

    @extend_schema(
        methods=["GET"],
        summary="List a document's payments",
        responses={200: PaymentSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Record a payment",
        request=PaymentSerializer,
        responses={201: PaymentSerializer},
    )
    @action(detail=True, methods=["get", "post"], url_path="payments", pagination_class=None)
    def payments(self, request, *args, **kwargs):
        """A document is paid once payments cover its total; overpaying is refused (400), and
        documents that are paid, credited or credit notes take no payment (409)."""
        document = self.get_object()
        if request.method == "GET":
            return Response(PaymentSerializer(document.payments.all(), many=True).data)
        serializer = PaymentSerializer(data=request.data, context={"operator": document.operator})
        serializer.is_valid(raise_exception=True)
        # Not payable (allowed_actions) is a 409; too much money a 400 on "amount".
        payment = record_payment(document=document, **serializer.validated_data)
        return Response(PaymentSerializer(payment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Get a link to pay the document online",
        request=None,
        responses={
            200: inline_serializer(
                "PaymentLink",
                {
                    "url": serializers.URLField(
                        help_text="The checkout page to send the driver to."
                    ),
                    "reference": serializers.CharField(
                        help_text="The payment provider's reference of this checkout."
                    ),
                    "amount": serializers.DecimalField(
                        max_digits=12,
                        decimal_places=2,
                        help_text="What is still due and will be paid.",
                    ),
                    "currency": serializers.CharField(help_text="ISO 4217 code."),
                },
            ),
            409: OpenApiResponse(description="Nothing is due on the document."),
        },
    )
    @action(detail=True, methods=["post"], url_path="payment-link")
    def payment_link(self, request, *args, **kwargs):
        """A checkout at the payment provider for what is still due (409 when nothing is); the
        driver comes back to a page that says whether the payment arrived."""
        document = self.get_object()
        token = pay_links.token(document)
        back = request.build_absolute_uri(reverse("portal:pay-link", args=[token]) + "?returned=1")
        started = checkout.start(document=document, return_url=back)
        return Response(
            {
                "url": request.build_absolute_uri(started.url),
                "reference": started.reference,
                "amount": document.outstanding,
                "currency": document.currency,
            }
        )


@extend_schema(tags=["billing runs"])
class BillingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IntegratorViewSet):
    """Monthly billing runs of the operator: start one for a closed month, watch it."""

    serializer_class = BillingRunSerializer
    # The billing service queues its chunks right after planning, before any outer commit.
    atomic_writes = False

    queryset = BillingRun.objects.none()

    def scoped_queryset(self, operator):
        return BillingRun.objects.filter(operator=operator)

    @extend_schema(summary="List billing runs")
    def list(self, request, *args, **kwargs):
        """Newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a billing run")
    def retrieve(self, request, *args, **kwargs):
        """Status and counts; poll until completed or completed_with_errors."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Start a billing run",
        request=BillingRunRequestSerializer,
        responses={202: BillingRunSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Plans the run of a closed month and hands its chunks to the workers (202); starting
        a month again bills only what is still unbilled, never anything twice."""
        serializer = BillingRunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            period = parse_period(serializer.validated_data["period"])
            run = queue_billing_run(operator=self.operator, period=period)
        except BrokerError as exc:
            raise ServiceUnavailable(
                "The run was planned but not handed to the workers; start the same month again."
            ) from exc
        return Response(BillingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="List a billing run's errors", responses=BillingRunErrorSerializer(many=True)
    )
    @action(detail=True, methods=["get"], url_path="errors")
    def errors(self, request, *args, **kwargs):
        """The customers the run could not bill, and why."""
        run = self.get_object()
        page = self.paginate_queryset(run.errors.order_by("-id"))
        return self.get_paginated_response(BillingRunErrorSerializer(page, many=True).data)


@extend_schema(tags=["accounting"])
class DatevExportViewSet(IntegratorViewSet):
    """A month for the accountant's DATEV: booking batch and debtor master data in one ZIP."""

    queryset = Document.objects.none()
    pagination_class = None
    renderer_classes = [ExactJSONRenderer, ZipRenderer]

    def scoped_queryset(self, operator):
        return Document.objects.none()  # the export reads its own documents and payments

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON even when the client asked for a ZIP.
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), ZipRenderer
        ):
            request.accepted_renderer = ExactJSONRenderer()
            request.accepted_media_type = ExactJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        summary="Download a month as a DATEV booking batch",
        parameters=[
            OpenApiParameter(
                "period", str, required=True, description="The month, YYYY-MM, e.g. 2026-11."
            )
        ],
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="EXTF_Buchungsstapel_YYYY-MM.csv and EXTF_Debitoren_YYYY-MM.csv.",
            ),
            400: OpenApiResponse(
                description="Not a month, no DATEV settings, or supplies without a revenue "
                "account: `unmapped` lists what to map."
            ),
        },
    )
    def list(self, request, *args, **kwargs):
        """Issued invoices, receipts and credit notes by issue date and payments by the day
        they were received, in DATEV's EXTF format (docs/datev.md)."""
        period = request.query_params.get("period", "")
        if not period:
            raise InvalidInput("Say which month: ?period=YYYY-MM, e.g. 2026-11.", field="period")
        export = export_datev(operator=self.operator, period=parse_period(period))
        return HttpResponse(
            export.content,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
        )
