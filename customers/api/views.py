"""Whether a charging token may charge: asked by the CPMS before it starts a session."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from invoicing.subscriptions import authorize_token

from ..models import ChargingToken


class CanViewTokens(BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.has_perm("customers.view_chargingtoken"))


@extend_schema(
    summary="May this token charge?",
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
            "token": serializers.CharField(),
            "kind": serializers.CharField(),
            "allowed": serializers.BooleanField(),
            "reason": serializers.CharField(help_text="Why charging is blocked; empty if allowed."),
        },
    ),
)
@api_view(["GET"])
@permission_classes([CanViewTokens])
def token_authorization(request: Request, uid: str) -> Response:
    """Allowed, or blocked with the reason (e.g. a suspended subscription)."""
    tokens = ChargingToken.objects.filter(uid=uid)
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
