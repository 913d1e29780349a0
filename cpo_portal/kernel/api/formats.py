"""Exact JSON in and out, and cursor pagination, for the integrator API.

A leaf module (no import of DRF's views): the REST_FRAMEWORK setting names these classes, and
DRF loads them while its own views module is still being imported.
"""

from __future__ import annotations

import codecs
import json
from decimal import Decimal

import simplejson
from django.conf import settings
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer

from cpo_portal.kernel.json_limits import json_problem


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows.")


class DecimalJSONParser(JSONParser):
    """JSON with every number exact: 0.1 stays Decimal("0.1"), never a float.

    Bodies no endpoint accepts are refused here, naming the field (kernel/json_limits.py):
    nesting beyond the limit, numbers beyond 10^15 (1e400), lone UTF-16 surrogates ("\\ud800").
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            decoded = codecs.getreader(encoding)(stream)
            data = json.load(decoded, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from exc
        problem = json_problem(data)
        if problem is not None:
            path, message = problem
            raise exceptions.ParseError({path or "detail": [message]})
        return data


class _ExactNumbers(Exception):
    """The data holds a Decimal: only simplejson writes it as the exact number it is."""


class ExactJSONRenderer(JSONRenderer):
    """JSON with Decimals written as the exact numbers they are (OCPI tariffs, totals)."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        default = self.encoder_class().default

        def plain(value):
            if isinstance(value, Decimal):
                raise _ExactNumbers
            return default(value)

        # Most answers hold no Decimal (money is a string): the standard library's C encoder
        # writes the same bytes as simplejson, whose non-ASCII strings go through Python and
        # took three times as long on a page of 500 documents.
        try:
            text = json.dumps(
                data, default=plain, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
        except _ExactNumbers:
            text = simplejson.dumps(
                data,
                default=default,
                use_decimal=True,
                ensure_ascii=False,
                allow_nan=False,
                separators=(",", ":"),
            )
        # As DRF's renderer: these two are valid JSON but break JavaScript string literals.
        return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class PdfRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/pdf`; errors are still written as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return ExactJSONRenderer().render(data)


class ZipRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/zip`; errors are still written as JSON."""

    media_type = "application/zip"
    format = "zip"


class XmlFileRenderer(BaseRenderer):
    """Lets a client ask for `Accept: application/xml` (e-invoices); errors are still JSON."""

    media_type = "application/xml"
    format = "xml"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return ExactJSONRenderer().render(data)


def render_json(data) -> str:
    """The exact JSON text the API answers with (API bodies, webhook bodies)."""
    return ExactJSONRenderer().render(data).decode()


# --- lists ---------------------------------------------------------------------------------------


class ApiCursorPagination(CursorPagination):
    """Opaque cursors over the id: stable under inserts, no COUNT, constant cost per page."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        properties = paginated["properties"]
        properties["next"]["description"] = "The next page's URL; null on the last page."
        properties["previous"]["description"] = "The previous page's URL; null on the first."
        properties["results"]["description"] = "This page's objects, newest first."
        return paginated

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError({self.cursor_query_param: [str(exc.detail)]}) from exc


class PngRenderer(BaseRenderer):
    """Lets a client ask for `?format=png` (QR codes); errors are still written as JSON."""

    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return ExactJSONRenderer().render(data)


class SvgRenderer(BaseRenderer):
    """Lets a client ask for `?format=svg` (QR codes); errors are still written as JSON."""

    media_type = "image/svg+xml"
    format = "svg"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return ExactJSONRenderer().render(data)


class UrlJSONRenderer(ExactJSONRenderer):
    """`?format=url`: the JSON answer carrying an address."""

    format = "url"
