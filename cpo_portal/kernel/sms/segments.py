"""How many SMS a text costs: GSM 03.38 texts take 160 characters (153 per part when split),
any other character turns the whole text into UCS-2 with 70 (67 per part)."""

from __future__ import annotations

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table cost two (an escape and the character).
GSM_EXTENSION = "^{}\\[~]|€\f"
ELLIPSIS = "..."


def _is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def _units(text: str) -> tuple[int, int, int]:
    """(length in the encoding's units, units of a single SMS, units per part of a long one)."""
    if _is_gsm(text):
        return sum(2 if c in GSM_EXTENSION else 1 for c in text), 160, 153
    # UCS-2 counts UTF-16 code units: a character outside the BMP (an emoji) takes two.
    return len(text.encode("utf-16-le")) // 2, 70, 67


def sms_segments(text: str) -> int:
    """The number of SMS parts the text is sent in (0 for an empty text)."""
    length, single, part = _units(text)
    if length == 0:
        return 0
    if length <= single:
        return 1
    return -(-length // part)


def fit_sms(text: str, limit_segments: int = 2) -> str:
    """The text shortened with an ellipsis to fit the number of parts; a link at its end is
    kept whole, the words before it are shortened instead."""
    if sms_segments(text) <= limit_segments:
        return text
    head, link = text, ""
    last = text.rsplit(maxsplit=1)
    if len(last) == 2 and last[1].startswith(("http://", "https://")):
        head, link = last[0], " " + last[1]
    while head and sms_segments(head.rstrip() + ELLIPSIS + link) > limit_segments:
        head = head[:-1]
    return head.rstrip() + ELLIPSIS + link
