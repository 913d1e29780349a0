"""The operator's matching windows and tolerances, from the Django settings (CPO_MATCHING_*)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings

from invoicing.terminals.matching import MatchingRules


def configured_rules() -> MatchingRules:
    """The rules in force: the defaults, unless the settings say otherwise."""
    default = MatchingRules()
    return MatchingRules(
        authorization_before=timedelta(
            minutes=getattr(
                settings,
                "CPO_MATCHING_AUTHORIZATION_BEFORE_MINUTES",
                default.authorization_before.total_seconds() / 60,
            )
        ),
        capture_after=timedelta(
            minutes=getattr(
                settings,
                "CPO_MATCHING_CAPTURE_AFTER_MINUTES",
                default.capture_after.total_seconds() / 60,
            )
        ),
        clock_tolerance=timedelta(
            seconds=getattr(
                settings,
                "CPO_MATCHING_CLOCK_TOLERANCE_SECONDS",
                default.clock_tolerance.total_seconds(),
            )
        ),
        amount_tolerance=Decimal(
            str(getattr(settings, "CPO_MATCHING_AMOUNT_TOLERANCE", default.amount_tolerance))
        ),
        ambiguity_margin=timedelta(
            seconds=getattr(
                settings,
                "CPO_MATCHING_AMBIGUITY_MARGIN_SECONDS",
                default.ambiguity_margin.total_seconds(),
            )
        ),
    )
