"""The API root: what an integrator finds at /api/v1/."""

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
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
