"""Stored files reach admin, portal and API through one response: streamed, named, 404 if gone."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db.models import FileField
from django.db.models.fields.files import FieldFile
from django.http import Http404

from cpo_portal.kernel.files import file_response


@pytest.fixture
def stored(tmp_path):
    """A file as a model's file field holds it, in a storage of its own."""
    storage = FileSystemStorage(location=tmp_path)
    name = storage.save("documents/a.pdf", ContentFile(b"%PDF-1.4 test"))
    field = FileField(storage=storage)
    field.name = "file"
    return FieldFile(instance=None, field=field, name=name)


# Closing the response sends request_finished, whose receivers look at the database connection.
@pytest.mark.django_db
def test_a_stored_file_is_streamed_as_a_named_download(stored):
    response = file_response(stored, "INV-000001.pdf", as_attachment=True)

    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="INV-000001.pdf"'
    response.close()


def test_a_file_missing_from_storage_is_not_found(stored):
    stored.storage.delete(stored.name)

    with pytest.raises(Http404, match=r"INV-000001\.pdf is missing"):
        file_response(stored, "INV-000001.pdf")
