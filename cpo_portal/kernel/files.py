"""Stored files as HTTP responses, for every door (admin, portal, API) alike."""

from __future__ import annotations

from django.core.files import File
from django.http import FileResponse, Http404, HttpResponse

__all__ = ["bytes_response", "file_response"]


def file_response(
    stored_file: File,
    filename: str,
    *,
    as_attachment: bool = False,
    content_type: str | None = None,
) -> FileResponse:
    """The stored file streamed as `filename` (a download when `as_attachment`); a file missing
    from storage is a 404, never a 500. The content type is guessed from the name if not given."""
    try:
        handle = stored_file.open("rb")
    except FileNotFoundError as exc:
        raise Http404(f"The stored file {filename} is missing.") from exc
    return FileResponse(
        handle, as_attachment=as_attachment, filename=filename, content_type=content_type
    )


def bytes_response(data: bytes, filename: str, *, content_type: str) -> HttpResponse:
    """Bytes kept in the database (an e-invoice's XML) as a download named `filename`."""
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
