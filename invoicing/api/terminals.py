"""Card terminals and their transactions for integrators, and the vendors' signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from cpo_portal.kernel.api.framework import IntegratorViewSet
from cpo_portal.kernel.errors import InvalidInput, StateConflict
from invoicing.payments import ledger
from invoicing.terminals import ingest
from invoicing.terminals.models import Terminal, TerminalTransaction
from invoicing.terminals.setup import save_terminal

# How old a signed webhook call may be before it is refused as a possible replay.
WEBHOOK_TOLERANCE_SECONDS = 300


def terminal_json(terminal: Terminal) -> dict:
    return {
        "terminal_id": terminal.terminal_id,
        "vendor": terminal.vendor,
        "evse_ids": sorted(terminal.evses.values_list("evse_id", flat=True)),
        "time_zone": terminal.time_zone,
        "clock_offset_seconds": terminal.clock_offset_seconds,
    }


def transaction_json(row: TerminalTransaction) -> dict:
    return {
        "id": row.transaction_id,
        "terminal_id": row.terminal.terminal_id,
        "kind": row.kind,
        "amount": str(row.entry.amount),
        "currency": row.entry.currency,
        "at": row.terminal_time.isoformat(),
        "authorization_id": row.authorization.transaction_id if row.authorization_id else None,
        "card_brand": row.card_brand,
        "card_last4": row.card_last4,
        "authorization_code": row.authorization_code,
        "reference": row.payment_reference or None,
        "match": {
            "state": row.match_state,
            "session": row.session_id,
            "explanation": row.match_explanation,
            "candidates": row.review_candidates,
        },
    }


@extend_schema(tags=["terminals"])
class TerminalViewSet(IntegratorViewSet):
    """The operator's card terminals: which EVSEs each serves, its time zone and clock offset."""

    lookup_field = "terminal_id"
    lookup_url_kwarg = "terminal_id"
    queryset = Terminal.objects.none()
    # The bodies are plain JSON (docs/receipts.md); OPTIONS describes no form fields.
    serializer_class = serializers.Serializer

    def scoped_queryset(self, operator):
        return Terminal.objects.filter(operator=operator).prefetch_related("evses")

    @extend_schema(
        summary="List terminals",
        operation_id="terminals_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([terminal_json(t) for t in page])

    @extend_schema(
        summary="Register or update a terminal",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
    )
    def create(self, request, *args, **kwargs):
        """By `terminal_id`: 201 when new, 200 when it updated the known terminal."""
        terminal, created = save_terminal(operator=self.operator, data=request.data)
        return Response(terminal_json(terminal), status=201 if created else 200)

    @extend_schema(summary="Read a terminal", responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        return Response(terminal_json(self.get_object()))


@extend_schema(tags=["terminals"])
class TerminalTransactionViewSet(IntegratorViewSet):
    """Terminal transactions in (one or a batch) and their match to a session."""

    lookup_field = "transaction_id"
    lookup_url_kwarg = "transaction_id"
    queryset = TerminalTransaction.objects.none()
    serializer_class = serializers.Serializer

    def scoped_queryset(self, operator):
        return TerminalTransaction.objects.filter(terminal__operator=operator).select_related(
            "terminal", "entry", "authorization"
        )

    @extend_schema(
        summary="List terminal transactions",
        operation_id="terminal_transactions_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([transaction_json(t) for t in page])

    @extend_schema(
        summary="Send a terminal transaction",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT},
    )
    def create(self, request, *args, **kwargs):
        """201 when stored, 200 when the same transaction was received before."""
        received = ingest.receive(
            request.data,
            operator=self.operator,
            source="api",
            payload=json.dumps(request.data, default=str),
        )
        return Response(
            transaction_json(received.transaction), status=201 if received.created else 200
        )

    @extend_schema(
        summary="Send terminal transactions in bulk",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request, *args, **kwargs):
        """`{"transactions": [...]}`: all stored or none; errors are keyed `<position>.<field>`."""
        rows = request.data.get("transactions") if isinstance(request.data, dict) else None
        received = ingest.receive_many(rows, operator=self.operator, source="api")
        return Response(
            {
                "created": sum(1 for r in received if r.created),
                "known": sum(1 for r in received if not r.created),
                "transactions": [transaction_json(r.transaction) for r in received],
            },
            status=status.HTTP_200_OK,
        )

    @extend_schema(summary="Read a terminal transaction", responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        return Response(transaction_json(self.get_object()))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _secret(vendor: str, terminal: Terminal | None) -> str:
    if terminal is not None and terminal.webhook_secret:
        return terminal.webhook_secret
    return getattr(settings, "CPO_TERMINAL_WEBHOOK_SECRETS", {}).get(vendor, "")


@csrf_exempt
@require_POST
def terminal_webhook(request, vendor: str):
    """A vendor's signed notification: verified, applied once, replays and stale calls refused."""
    header = request.headers.get("X-Terminal-Signature", "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    timestamp, sent = parts.get("t", ""), parts.get("v1", "")
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return JsonResponse({"detail": ["The body is not JSON."]}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("transactions"), list):
        return JsonResponse({"detail": ["Send {event_id, terminal_id, transactions}."]}, status=400)
    terminal = Terminal.objects.filter(
        vendor=vendor, terminal_id=str(body.get("terminal_id") or "")
    ).first()
    secret = _secret(vendor, terminal)
    if not secret or not hmac.compare_digest(signature(secret, timestamp, request.body), sent):
        return JsonResponse({"detail": ["The signature does not match."]}, status=401)
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS:
        return JsonResponse(
            {"detail": ["The signature is too old or from the future."]}, status=401
        )
    if terminal is None:
        return JsonResponse({"terminal_id": ["Unknown terminal for this vendor."]}, status=400)
    event_id = str(body.get("event_id") or "")
    if not event_id:
        return JsonResponse({"event_id": ["This field is required."]}, status=400)
    rows = [
        dict(r, terminal_id=terminal.terminal_id)
        for r in body["transactions"]
        if isinstance(r, dict)
    ]
    try:
        with transaction.atomic():
            if not ledger.accept_notification(
                provider=f"terminal:{vendor}",
                event_id=event_id,
                kind="transactions",
                payload=request.body.decode(),
            ):
                return JsonResponse({"status": "already handled"}, status=200)
            received = ingest.receive_many(rows, operator=terminal.operator, source="webhook")
    except (InvalidInput, StateConflict) as exc:
        errors = getattr(exc, "errors", {"detail": [str(exc)]})
        return JsonResponse(errors, status=400)
    return JsonResponse({"status": "received", "created": sum(r.created for r in received)})
