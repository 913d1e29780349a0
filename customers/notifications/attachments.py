"""Files a message carries, fetched when it is sent from the layer that owns them.

The outbox knows messages, not documents: a higher layer registers a resolver for the kind of
object a message is `regarding` (`document:12` → the document's PDF), so the bytes attached are
the stored ones at sending time and the row keeps no copy.
"""

from __future__ import annotations

from collections.abc import Callable

Attachment = tuple[str, bytes, str]  # file name, content, MIME type
Resolver = Callable[[int], list[Attachment]]

_RESOLVERS: dict[str, Resolver] = {}


class AttachmentNotReady(Exception):
    """The file does not exist yet (a PDF still being rendered): the message waits for it."""


class AttachmentError(Exception):
    """The file can never be attached (missing or altered): the message fails with the reason."""


def register(kind: str, resolver: Resolver) -> None:
    _RESOLVERS[kind] = resolver


def attachments_for(regarding: str) -> list[Attachment]:
    """The files of the object a message is about; none when its kind carries no files."""
    kind, _sep, object_id = regarding.partition(":")
    resolver = _RESOLVERS.get(kind)
    if resolver is None or not object_id.isdigit():
        return []
    return resolver(int(object_id))
