"""Customers and charging tokens for integrators, and whether a token may charge (the CPMS)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import (
    api_view,
    authentication_classes,
    permission_classes,
    schema,
)
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from cpo_portal.kernel.api.framework import (
    ApiKeyAuthentication,
    IntegratorAutoSchema,
    IntegratorViewSet,
)
from customers.api.serializers import ChargingTokenSerializer, CustomerSerializer
from customers.models import ChargingToken, Customer
from invoicing.models import ApiKey
from invoicing.subscriptions.lifecycle import authorize_token


class CustomerFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(
        choices=Customer.Kind.choices, help_text="Only customers of this kind."
    )
    email = django_filters.CharFilter(
        lookup_expr="iexact", help_text="Only customers with this e-mail (any case)."
    )
    vat_id = django_filters.CharFilter(help_text="Only customers with this VAT ID (compact).")
    requires_invoice = django_filters.BooleanFilter(
        help_text="Only customers who asked (true) or did not ask (false) for invoices."
    )
    billing_mode = django_filters.ChoiceFilter(
        choices=[(v, label) for v, label in Customer.BillingMode.choices if v],
        help_text="Only customers with this billing mode.",
    )

    class Meta:
        model = Customer
        fields = ["kind", "email", "vat_id", "requires_invoice", "billing_mode"]


@extend_schema(tags=["customers"])
class CustomerViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    IntegratorViewSet,
):
    """Customers and their invoice details, validated by the operator's rules."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    queryset = Customer.objects.none()

    def scoped_queryset(self, operator):
        return Customer.objects.filter(operator=operator).prefetch_related("tokens")

    @extend_schema(summary="List customers")
    def list(self, request, *args, **kwargs):
        """Newest first, a page at a time (follow `next`)."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Create a customer")
    def create(self, request, *args, **kwargs):
        """Invoice details are checked with the operator's mandatory fields and the VAT ID
        checksum; one message per problem field."""
        return super().create(request, *args, **kwargs)

    @extend_schema(summary="Read a customer")
    def retrieve(self, request, *args, **kwargs):
        """The customer, its tokens and what its invoice details still lack."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Replace a customer's details")
    def update(self, request, *args, **kwargs):
        """Documents already issued keep the details they were issued with."""
        return super().update(request, *args, **kwargs)

    @extend_schema(summary="Change some of a customer's details")
    def partial_update(self, request, *args, **kwargs):
        """Only the fields sent change; the whole result is validated."""
        return super().partial_update(request, *args, **kwargs)


class TokenFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(help_text="Only tokens of this customer id.")
    kind = django_filters.ChoiceFilter(
        choices=ChargingToken.Kind.choices, help_text="Only tokens of this kind."
    )
    uid = django_filters.CharFilter(help_text="Only the token with this UID.")

    class Meta:
        model = ChargingToken
        fields = ["customer", "kind", "uid"]


@extend_schema(tags=["customers"])
class ChargingTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    IntegratorViewSet,
):
    """RFID cards, app accounts and contract IDs of the operator's customers."""

    serializer_class = ChargingTokenSerializer
    filterset_class = TokenFilter

    queryset = ChargingToken.objects.none()

    def scoped_queryset(self, operator):
        return ChargingToken.objects.filter(customer__operator=operator)

    @extend_schema(summary="List charging tokens")
    def list(self, request, *args, **kwargs):
        """Newest first; filter by customer, kind or UID."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Create a charging token")
    def create(self, request, *args, **kwargs):
        """Sessions naming the token's UID are billed to its customer."""
        return super().create(request, *args, **kwargs)

    @extend_schema(summary="Read a charging token")
    def retrieve(self, request, *args, **kwargs):
        """One token."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(summary="Replace a charging token")
    def update(self, request, *args, **kwargs):
        """Block, unblock or move a token to another customer."""
        return super().update(request, *args, **kwargs)

    @extend_schema(summary="Change a charging token")
    def partial_update(self, request, *args, **kwargs):
        """E.g. {"is_blocked": true, "blocked_reason": "Card reported lost"}."""
        return super().partial_update(request, *args, **kwargs)


# --- may this token charge? ----------------------------------------------------------------------


class CanAuthorizeTokens(BasePermission):
    """Staff who may view tokens, or any integrator's API key (for its operator's tokens)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return True
        return bool(request.user and request.user.has_perm("customers.view_chargingtoken"))


@extend_schema(
    summary="May this token charge?",
    tags=["customers"],
    parameters=[
        OpenApiParameter(
            "kind",
            str,
            required=False,
            enum=ChargingToken.Kind.values,
            description="Token kind, needed when the same UID exists for several kinds.",
        )
    ],
    responses=inline_serializer(
        "Authorization",
        {
            "token": serializers.CharField(help_text="The token UID asked about."),
            "kind": serializers.CharField(help_text="The token's kind."),
            "allowed": serializers.BooleanField(help_text="Whether it may start a session."),
            "reason": serializers.CharField(help_text="Why charging is blocked; empty if allowed."),
        },
    ),
)
@api_view(["GET"])
@schema(IntegratorAutoSchema())
@authentication_classes([SessionAuthentication, ApiKeyAuthentication])
@permission_classes([CanAuthorizeTokens])
def token_authorization(request: Request, uid: str) -> Response:
    """Allowed, or blocked with the reason (e.g. a suspended subscription)."""
    tokens = ChargingToken.objects.filter(uid=uid)
    if isinstance(request.auth, ApiKey):
        tokens = tokens.filter(customer__operator=request.auth.integrator.operator)
    kind = request.query_params.get("kind")
    if kind:
        if kind not in ChargingToken.Kind.values:
            raise ValidationError({"kind": [f"Unknown token kind “{kind}”."]})
        tokens = tokens.filter(kind=kind)
    found = list(tokens[:2])
    if not found:
        raise NotFound("Unknown token.")
    if len(found) > 1:
        raise ValidationError({"kind": ["Several tokens have this UID; give their kind."]})
    (token,) = found
    answer = authorize_token(token=token)
    return Response(
        {
            "token": answer.token,
            "kind": token.kind,
            "allowed": answer.allowed,
            "reason": answer.reason,
        }
    )
