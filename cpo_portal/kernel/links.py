"""Short links for text messages: a few characters that lead to a page of the product until
they expire (an SMS has no room for a document's signed address)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# 10 characters of 62: guessing one of a million live links takes ~10^11 tries.
TOKEN_LENGTH = 10
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


class ShortLink(models.Model):
    """A short token leading to one page of the product until it expires."""

    token = models.CharField(_("token"), max_length=16, unique=True)
    target = models.CharField(
        _("page"), max_length=500, help_text=_("The path it leads to, e.g. /invoices/12/.")
    )
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "invoicing"
        verbose_name = _("short link")

    def __str__(self) -> str:
        return f"/s/{self.token}/"


def short_link(path: str, *, valid_for: timedelta | None = None) -> str:
    """The absolute short URL of a path of the product (a new token each time)."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError("A short link leads to a path of the product.")
    if not settings.PUBLIC_BASE_URL:
        raise ImproperlyConfigured("Set PUBLIC_BASE_URL: links in text messages need it.")
    expires_at = timezone.now() + (valid_for or timedelta(days=settings.SHORT_LINK_DAYS))
    for _attempt in range(5):
        token = "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_LENGTH))
        try:
            with transaction.atomic():
                ShortLink.objects.create(token=token, target=path, expires_at=expires_at)
        except IntegrityError:
            continue  # the token was taken: draw another
        return f"{settings.PUBLIC_BASE_URL}/s/{token}/"
    raise RuntimeError("No free short-link token after five draws.")


def follow(token: str) -> str | None:
    """The path a short token leads to, or None when it is unknown or expired."""
    link = ShortLink.objects.filter(token=token, expires_at__gt=timezone.now()).first()
    return link.target if link else None


def delete_expired(*, now=None) -> int:
    """Expired short links are deleted (they lead nowhere any more)."""
    deleted, _ = ShortLink.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
