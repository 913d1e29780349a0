"""Card terminals at the chargers and the transactions they report, each also a ledger entry."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator
from invoicing.payments.models import PaymentTransaction
from sessions.models import EVSE, ChargingSession

# The ledger provider of every terminal transaction.
TERMINAL_PROVIDER = "terminal"


class Terminal(models.Model):
    """A payment terminal (one per charger, or a pay station for several EVSEs)."""

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    terminal_id = models.CharField(_("terminal id"), max_length=64, unique=True)
    vendor = models.CharField(_("vendor"), max_length=64)
    evses = models.ManyToManyField(EVSE, related_name="terminals", verbose_name=_("EVSEs served"))
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", help_text=_("IANA name, e.g. Europe/Berlin.")
    )
    clock_offset_seconds = models.IntegerField(
        _("clock offset (s)"),
        default=0,
        help_text=_("How far the terminal's clock runs ahead, learned from confirmed matches."),
    )
    webhook_secret = models.CharField(
        _("webhook secret"),
        max_length=128,
        blank=True,
        help_text=_("Signs this terminal's webhook calls; empty: the vendor's secret applies."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("terminal")
        ordering = ["terminal_id"]

    def __str__(self) -> str:
        return self.terminal_id


class MatchState(models.TextChoices):
    UNMATCHED = "unmatched", _("Unmatched")
    MATCHED = "matched", _("Matched automatically")
    REVIEW = "review", _("In review")
    CONFIRMED = "confirmed", _("Confirmed by staff")


class TerminalTransaction(models.Model):
    """What a terminal reported about one transaction; the money itself is in the ledger."""

    entry = models.OneToOneField(
        PaymentTransaction,
        on_delete=models.PROTECT,
        related_name="terminal_transaction",
        verbose_name=_("ledger transaction"),
    )
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="transactions")
    transaction_id = models.CharField(_("transaction id"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=24)
    authorization = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="followers",
        verbose_name=_("authorization"),
    )
    card_brand = models.CharField(_("card brand"), max_length=32, blank=True)
    card_last4 = models.CharField(_("card last 4 digits"), max_length=4, blank=True)
    authorization_code = models.CharField(_("authorization code"), max_length=32, blank=True)
    terminal_time = models.DateTimeField(_("time on the terminal"))
    payment_reference = models.CharField(_("payment reference"), max_length=200, blank=True)
    source = models.CharField(_("received through"), max_length=16)
    session = models.OneToOneField(
        ChargingSession,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="terminal_payment",
        verbose_name=_("session"),
    )
    match_state = models.CharField(
        _("match"),
        max_length=12,
        choices=MatchState.choices,
        default=MatchState.UNMATCHED,
        db_index=True,
    )
    match_explanation = models.TextField(_("explanation"), blank=True)
    review_candidates = models.JSONField(_("candidate sessions"), default=list, blank=True)
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    matched_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    match_note = models.TextField(_("why"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("terminal transaction")
        ordering = ["-terminal_time", "-id"]
        indexes = [
            models.Index(fields=["terminal", "terminal_time"], name="terminal_tx_time"),
            # The admin's list order: its first page reads 100 rows, not every payment sorted.
            models.Index(fields=["-terminal_time", "-id"], name="terminal_tx_list_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.transaction_id} ({self.terminal_id})"
