"""The API's JSON: exact numbers, UTF-8 text, the same bytes whichever encoder writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import simplejson

from cpo_portal.kernel.api.formats import ExactJSONRenderer


def render(data) -> bytes:
    return ExactJSONRenderer().render(data)


def test_decimals_are_written_as_the_exact_numbers_they_are():
    assert render({"price": Decimal("0.1"), "steps": [Decimal("1E+1"), 3]}) == (
        b'{"price":0.1,"steps":[1E+1,3]}'
    )


def test_text_is_utf8_and_javascript_line_separators_are_escaped():
    body = render({"name": "Müller “GmbH” \u2028 نهاية", "at": datetime(2026, 3, 1, tzinfo=UTC)})

    assert body.decode() == '{"name":"Müller “GmbH” \\u2028 نهاية","at":"2026-03-01T00:00:00Z"}'


@pytest.mark.parametrize(
    "data",
    [
        {"results": [{"total": "5.00", "n": 1, "ok": True, "none": None, "f": 0.5}]},
        [{"a": '\x00\t"\\'}, "ü", 10**20],
        {"mixed": ["5.00", Decimal("5.00")]},
    ],
)
def test_answers_with_and_without_decimals_are_byte_for_byte_simplejsons(data):
    expected = simplejson.dumps(
        data, use_decimal=True, ensure_ascii=False, separators=(",", ":")
    ).encode()

    assert render(data) == expected


def test_numbers_json_cannot_hold_are_refused():
    with pytest.raises(ValueError):
        render({"x": float("nan")})
