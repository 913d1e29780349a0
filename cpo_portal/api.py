"""The API root: what an integrator finds at /api/v1/."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request: Request) -> Response:
    """Links to the OpenAPI schema and its documentation page."""
    return Response(
        {
            "version": "v1",
            "schema": reverse("api:schema", request=request),
            "docs": reverse("api:docs", request=request),
        }
    )


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([AllowAny])
@authentication_classes([])
def api_not_found(request: Request, path: str = "") -> Response:
    """Unknown API addresses answer in JSON, like everything else under /api/v1/."""
    raise NotFound(
        "No such endpoint. Paths end with a slash, e.g. /api/v1/customers/; see /api/v1/docs/."
    )
