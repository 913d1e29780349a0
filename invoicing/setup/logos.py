"""Operator logos: PNG or JPEG only, bounded in bytes and pixels, re-encoded on upload.

Re-encoding keeps only the pixels: metadata, embedded profiles and anything a crafted file
carries besides the image are dropped before the file reaches storage and the PDF renderer.
"""

from __future__ import annotations

import io
import uuid

from django import forms
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

LOGO_MAX_UPLOAD_BYTES = 2 * 1024 * 1024
LOGO_MAX_PIXELS = 4096 * 4096
LOGO_MAX_SIDE = 1200  # stored logos are scaled down to this; the PDF prints them 60 mm wide
ALLOWED_FORMATS = {"PNG", "JPEG"}


def prepare_logo(upload) -> ContentFile:
    """A checked, re-encoded copy of an uploaded logo, named logo-<uuid>.png/.jpg.

    Raises forms.ValidationError with a message for the operator when the file is not a PNG
    or JPEG image, is too large in bytes or pixels, or cannot be decoded.
    """
    size = getattr(upload, "size", None)
    if size is not None and size > LOGO_MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            _("The logo may be at most %(size)d KB."),
            code="logo_too_large",
            params={"size": LOGO_MAX_UPLOAD_BYTES // 1024},
        )
    upload.seek(0)
    data = upload.read(LOGO_MAX_UPLOAD_BYTES + 1)
    if len(data) > LOGO_MAX_UPLOAD_BYTES:
        raise forms.ValidationError(
            _("The logo may be at most %(size)d KB."),
            code="logo_too_large",
            params={"size": LOGO_MAX_UPLOAD_BYTES // 1024},
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if kind not in ALLOWED_FORMATS:
                raise forms.ValidationError(
                    _("The logo must be a PNG or JPEG image."), code="logo_format"
                )
            width, height = image.size
            # Checked from the header, before a single pixel is decoded.
            if width * height > LOGO_MAX_PIXELS:
                raise forms.ValidationError(
                    _("The logo may have at most %(pixels)s pixels."),
                    code="logo_too_many_pixels",
                    params={"pixels": f"{LOGO_MAX_PIXELS:,}"},
                )
            image.load()
            clean = ImageOps.exif_transpose(image)
            clean.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            out = io.BytesIO()
            if kind == "PNG":
                clean = clean.convert("RGBA" if _has_alpha(clean) else "RGB")
                clean.save(out, format="PNG", optimize=True)
                suffix = "png"
            else:
                clean.convert("RGB").save(out, format="JPEG", quality=90, optimize=True)
                suffix = "jpg"
    except forms.ValidationError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise forms.ValidationError(
            _("The logo could not be read as an image."), code="logo_unreadable"
        ) from exc
    return ContentFile(out.getvalue(), name=f"logo-{uuid.uuid4().hex}.{suffix}")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def clean_logo_upload(value):
    """For a form's `clean_logo`: a new upload is checked and re-encoded, anything else kept."""
    if isinstance(value, UploadedFile):
        return prepare_logo(value)
    return value


class LogoFormMixin:
    """Mix into the InvoicingSettings ModelForm: `class Form(LogoFormMixin, forms.ModelForm)`."""

    def clean_logo(self):
        return clean_logo_upload(self.cleaned_data.get("logo"))
