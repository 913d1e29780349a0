"""The integrator API's common ground: API-key authentication, scopes, throttling, exact JSON,
cursor pagination, error mapping and idempotent writes. Every integrator view builds on
`IntegratorViewSet`; the REST_FRAMEWORK setting points at the pieces that are defaults.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, transaction
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from cpo_portal.kernel.api.auth import (
    ApiKeyAuthentication,
    ApiKeyRateThrottle,
    ApiKeyScope,
    IntegratorPrincipal,
)
from cpo_portal.kernel.api.formats import (
    ApiCursorPagination,
    DecimalJSONParser,
    ExactJSONRenderer,
    PdfRenderer,
    XmlFileRenderer,
    ZipRenderer,
    render_json,
)
from cpo_portal.kernel.errors import InvalidInput, StateConflict
from cpo_portal.kernel.integrations import idempotency
from cpo_portal.kernel.integrations.models import ApiKey
from cpo_portal.kernel.tenancy import Operator

__all__ = [
    "ApiCursorPagination",
    "ApiKeyAuthentication",
    "ApiKeyRateThrottle",
    "ApiKeyScope",
    "Conflict",
    "DecimalJSONParser",
    "ExactJSONRenderer",
    "IntegratorPrincipal",
    "IntegratorViewSet",
    "PdfRenderer",
    "XmlFileRenderer",
    "ZipRenderer",
    "api_exception_handler",
]

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"


# --- who is calling (the classes themselves are in auth.py) --------------------------------------


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The two ways of sending a key, as OpenAPI security schemes (Swagger's Authorize)."""

    target_class = "cpo_portal.kernel.api.auth.ApiKeyAuthentication"
    name = ["ApiKeyBearer", "ApiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An integrator's API key: `Authorization: Bearer cpo_…`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same API key in the X-API-Key header.",
            },
        ]


# --- errors --------------------------------------------------------------------------------------


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the object."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large; send fewer items per request."
    default_code = "too_large"


def _translate(exc: Exception) -> Exception:
    """Domain and Django errors as the API exception that states them (400/404/409/422)."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return exceptions.ValidationError(detail)
    # Every domain error derives from the kernel's: 400 with the messages per field, or 409.
    if isinstance(exc, StateConflict):
        return Conflict(str(exc))
    if isinstance(exc, InvalidInput):
        return exceptions.ValidationError(exc.errors)
    if isinstance(exc, ObjectDoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, idempotency.IdempotencyMismatch):
        return Unprocessable(str(exc))
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, IntegrityError):
        # A database constraint refused the write (e.g. a concurrent twin): nothing was stored.
        logger.warning("API write refused by a constraint: %s", exc)
        return Conflict("The request conflicts with data stored meanwhile; nothing was stored.")
    if isinstance(exc, DataError):
        logger.warning("API write refused by the database: %s", exc)
        return exceptions.ValidationError(
            {"detail": ["A value is too long or out of range; nothing was stored."]}
        )
    return exc


def api_exception_handler(exc: Exception, context) -> Response | None:
    """DRF's handler, after turning domain errors into 400/404/409/422 (never a 500)."""
    return drf_exception_handler(_translate(exc), context)


# --- the schema ----------------------------------------------------------------------------------


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
)
class ErrorDetailField(serializers.Field):
    """A sentence, or a list of sentences."""


class ErrorSerializer(serializers.Serializer):
    """An error: `detail` for the whole request, or a list of messages per field name."""

    detail = ErrorDetailField(
        required=False,
        help_text="What went wrong with the request as a whole. Field errors come instead as "
        'one list of messages per field name, e.g. {"vat_id": ["…"]}.',
    )


ERRORS_OF_EVERY_OPERATION = {
    "400": "Bad input: one list of messages per field (or `detail`).",
    "401": "No API key, or an unknown, revoked or expired one.",
    "403": "The key may not do this (a read-only key writing).",
    "404": "No such object for this key's operator.",
    "429": "Too many requests for this key; see the Retry-After header.",
}
ERRORS_OF_WRITES = {
    "409": "Conflicts with the object's state, or the same Idempotency-Key is still in flight.",
    "413": "The request body is too large.",
    "422": "The Idempotency-Key was used before for a different request.",
}


PARAMETER_DESCRIPTIONS = {
    "id": "The object's id (a positive integer).",
    "tariff_id": "The tariff's OCPI id.",
    "uid": "The token's UID.",
    "terminal_id": "The terminal's id, as the terminal reports it.",
    "transaction_id": "The terminal transaction's id, as the terminal vendor reports it.",
    "format": "json or pdf: the answer's format, instead of an Accept header.",
}


class IntegratorAutoSchema(AutoSchema):
    """Documents what every integrator operation shares: errors and the Idempotency-Key."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            if not parameter.get("description") and parameter["name"] in PARAMETER_DESCRIPTIONS:
                parameter["description"] = PARAMETER_DESCRIPTIONS[parameter["name"]]
        return operation

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self.method in WRITE_METHODS:
            parameters = [
                *parameters,
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Any unique string (a UUID): a retry with the same key and "
                    "body gets the original response instead of doing the write twice.",
                ),
            ]
        return parameters

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        errors = dict(ERRORS_OF_EVERY_OPERATION)
        if self.method in WRITE_METHODS:
            errors.update(ERRORS_OF_WRITES)
        for code, description in errors.items():
            if code not in bodies:
                bodies[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code
                )
        return bodies


# --- the base of every integrator view -----------------------------------------------------------


class IntegratorViewSet(GenericViewSet):
    """An integrator's view: key-authenticated, scoped to the key's operator, idempotent writes."""

    # Writes run in one transaction (a refused request leaves nothing behind); with an
    # Idempotency-Key the response of a successful write is stored in that same transaction.

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [ApiKeyScope]
    throttle_classes = [ApiKeyRateThrottle]
    schema = IntegratorAutoSchema()
    pagination_class = ApiCursorPagination
    parser_classes = [DecimalJSONParser]
    renderer_classes = [ExactJSONRenderer]
    # Any id reaches get_object (which answers a JSON 404), not Django's HTML "no such URL".
    lookup_value_regex = "[^/]+"
    # Off for views whose service queues Celery tasks before its own commit (billing runs):
    # an outer transaction would let workers look for rows not committed yet.
    atomic_writes = True

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth

    @property
    def operator(self) -> Operator:
        return self.request.auth.integrator.operator

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset  # the schema generator has no key: Model.objects.none()
        return self.scoped_queryset(self.operator)

    def scoped_queryset(self, operator: Operator):
        """The view's objects, only those of this operator: other operators' ids answer 404."""
        raise NotImplementedError

    def get_object(self):
        # Ids are 64-bit: anything else matches nothing (instead of overflowing the query).
        if self.lookup_field == "pk":
            value = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
            if not (value.isascii() and value.isdigit() and 0 < int(value) < 2**63):
                raise exceptions.NotFound()
        return super().get_object()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if isinstance(getattr(self.request, "auth", None), ApiKey):
            context["operator"] = self.operator
        return context

    # DRF's dispatch with two additions: idempotency around writes, and one transaction.
    def dispatch(self, request, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        self._idempotency_record = None
        self._idempotency_stored = False
        try:
            self.initial(request, *args, **kwargs)
            if request.method.lower() in self.http_method_names:
                handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            response = self._handle(handler, request, *args, **kwargs)
        except Exception as exc:
            try:
                response = self.handle_exception(exc)
            except BaseException:
                self._release_idempotency()
                raise
        self.response = self.finalize_response(request, response, *args, **kwargs)
        self._finish_idempotency(self.response)
        return self.response

    def _handle(self, handler, request, *args, **kwargs):
        if request.method not in WRITE_METHODS or handler == self.http_method_not_allowed:
            return handler(request, *args, **kwargs)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            key = key.strip()
            if not key or len(key) > 255 or not key.isprintable():
                raise exceptions.ValidationError(
                    {IDEMPOTENCY_HEADER: ["Use 1 to 255 printable characters, e.g. a UUID."]}
                )
            claimed = idempotency.claim(
                integrator=self.api_key.integrator,
                key=key,
                method=request.method,
                path=request.get_full_path(),
                body=request.body,
            )
            if isinstance(claimed, idempotency.StoredResponse):
                replay = HttpResponse(
                    claimed.body.encode(),
                    status=claimed.status,
                    content_type="application/json" if claimed.body else None,
                )
                replay["Idempotent-Replayed"] = "true"
                return replay
            self._idempotency_record = claimed
        if not self.atomic_writes:
            return handler(request, *args, **kwargs)
        with transaction.atomic():
            response = handler(request, *args, **kwargs)
            if response.status_code >= 400:
                transaction.set_rollback(True)
            elif self._idempotency_record is not None:
                idempotency.complete(
                    record=self._idempotency_record,
                    status=response.status_code,
                    body=render_json(response.data),
                )
                self._idempotency_stored = True
        return response

    def _finish_idempotency(self, response) -> None:
        record = self._idempotency_record
        if record is None or self._idempotency_stored:
            return
        if response.status_code >= 500:
            self._release_idempotency()
            return
        body = render_json(response.data) if isinstance(response, Response) else ""
        idempotency.complete(record=record, status=response.status_code, body=body)
        self._idempotency_stored = True

    def _release_idempotency(self) -> None:
        if self._idempotency_record is not None and not self._idempotency_stored:
            idempotency.release(record=self._idempotency_record)
