"""The PDF renderer reads fonts and images from static/ and media/ only, and never a URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from invoicing.output import pdf

STATIC = Path(__file__).resolve().parents[3] / "static"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    root = Path(settings.MEDIA_ROOT)
    (root / "logos").mkdir(parents=True)
    Image.new("RGB", (40, 20), "red").save(root / "logos" / "logo.png")
    pdf.load_logo.cache_clear()
    return root


def test_a_bundled_font_resolves_to_its_file_in_static():
    path = pdf.link_callback("/static/invoicing/fonts/DejaVuSans.ttf")

    assert Path(path) == (STATIC / "invoicing" / "fonts" / "DejaVuSans.ttf").resolve()
    assert pdf.link_callback("static/invoicing/fonts/DejaVuSans.ttf") == path


def test_a_logo_resolves_to_its_file_in_media(media):
    assert pdf.link_callback("/media/logos/logo.png") == str(media / "logos" / "logo.png")


@pytest.mark.parametrize(
    "uri",
    [
        "/etc/passwd",
        "etc/passwd",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "https://cdn.example.com/logo.png",
        "//cdn.example.com/logo.png",
        "ftp://example.com/logo.png",
        "data:text/html;base64,PGI+aGk8L2I+",
        "data:image/svg+xml;base64,PHN2Zz4=",
        "/static/../manage.py",
        "/static/invoicing/fonts/../../../cpo_portal/settings.py",
        "/static/invoicing/./fonts/DejaVuSans.ttf",
        "/static//invoicing/fonts/DejaVuSans.ttf",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/invoicing/fonts/LICENSE",
        "/static/invoicing/fonts/DejaVuSans.ttf?x=1",
        "/static/invoicing/fonts/DejaVuSans.ttf#x",
        "C:\\Windows\\win.ini",
        "/media/../../etc/passwd.png",
        "/media/logos/../../db.sqlite3",
        "/media/documents/1/2026/03/INV-000001-r1.pdf",
        "/static/invoicing/fonts/Dejavu\x00Sans.ttf",
        "",
        "   ",
    ],
)
def test_anything_but_a_static_or_media_file_is_refused(uri, media):
    with pytest.raises(pdf.UnsafeResourceError):
        pdf.link_callback(uri)


def test_a_symbolic_link_out_of_media_is_refused(media, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4), "blue").save(secret)
    os.symlink(secret, media / "logos" / "planted.png")

    with pytest.raises(pdf.UnsafeResourceError, match="outside MEDIA_ROOT"):
        pdf.link_callback("/media/logos/planted.png")


def test_a_missing_static_file_is_an_error_not_a_fallback():
    with pytest.raises(pdf.RenderError, match="missing"):
        pdf.link_callback("/static/invoicing/fonts/NotThere.ttf")


def html(body: str) -> str:
    fonts = pdf.check_fonts()
    return (
        "<html><head><style>"
        f'@font-face {{ font-family: "DocSans"; src: url("{fonts["regular"]}"); }}'
        "body { font-family: DocSans; }</style></head>"
        f"<body>{body}</body></html>"
    )


@pytest.mark.parametrize(
    "body",
    [
        '<img src="/etc/hostname">',
        '<img src="file:///etc/hostname">',
        '<img src="http://127.0.0.1:9/logo.png">',
        '<div style="background-image: url(https://example.com/x.png)">x</div>',
        '<style>@font-face { font-family: X; src: url("/usr/share/fonts/x.ttf"); }</style>',
        '<style>@import url("http://127.0.0.1:9/evil.css");</style>',
    ],
)
def test_a_template_that_asks_for_another_file_or_a_url_fails_the_render(body):
    with pytest.raises(pdf.RenderError):
        pdf.html_to_pdf(html(f"<p>Invoice</p>{body}"))


def test_a_template_using_static_and_media_renders(media):
    data = pdf.html_to_pdf(html('<p>Invoice</p><img src="/media/logos/logo.png">'))

    assert data.startswith(b"%PDF")


def test_remote_storage_hands_the_logo_over_inline_without_a_url(media, monkeypatch):
    # With S3 there is no MEDIA_ROOT on this machine: the checked bytes go in as a data: URI.
    monkeypatch.setattr(pdf, "media_root", lambda: None)

    uri = pdf.link_callback("/media/logos/logo.png")

    assert uri.startswith("data:image/png;base64,")
    assert default_storage.exists("logos/logo.png")


def test_an_inline_png_passes_as_it_is_since_nothing_is_read_or_fetched():
    """The EPC QR code is drawn by the product and embedded as a PNG data URI."""
    png = "data:image/png;base64,iVBORw0KGgo="

    assert pdf.link_callback(png) == png
