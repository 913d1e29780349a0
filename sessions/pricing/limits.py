"""The bounds of every input that drives work: one place, far beyond what a real CPMS sends.

A tariff, a CDR, a native record or a bulk request beyond these is refused before any pricing
starts, with a message naming the limit (docs/api.md, "Limits"). Within them, pricing one
session costs a bounded amount of work (tests/sessions/test_limits.py prices the worst case).

Pure Python like the rest of the pricing package; the ingest validators,
the tariff parser and the commands all read their limits from here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = [
    "EARLIEST_SESSION_TIME",
    "LATEST_SESSION_TIME",
    "MAX_BULK_ITEMS",
    "MAX_CHARGING_PERIODS",
    "MAX_CURRENT_A",
    "MAX_POWER_KW",
    "MAX_PRICE",
    "MAX_PRICE_COMPONENTS",
    "MAX_SESSION_DURATION",
    "MAX_SESSION_ENERGY_KWH",
    "MAX_SESSION_TOTAL",
    "MAX_STEP_SIZE",
    "MAX_TARIFF_ELEMENTS",
    "MAX_TIMES_OF_DAY",
    "MAX_VOLUME",
    "within_session_years",
]

# --- counts: what one request or one session may hold --------------------------------------------

#: Elements of one tariff (real tariffs have 1 to 10; a quarter-hourly dynamic tariff 96).
MAX_TARIFF_ELEMENTS = 100
#: Price components of one tariff element (OCPI has four types; the first of each type is used).
MAX_PRICE_COMPONENTS = 10
#: Distinct restriction times of day (start_time/end_time) in one tariff: every half hour.
MAX_TIMES_OF_DAY = 48
#: Charging periods of one CDR (a CPMS writes one per tariff or power change).
MAX_CHARGING_PERIODS = 1000
#: Items of one `POST /sessions/bulk/` request.
MAX_BULK_ITEMS = 1000

# --- time: how long and when ---------------------------------------------------------------------

#: From the start to the end of one session (also the largest min/max_duration restriction).
MAX_SESSION_DURATION = timedelta(days=31)
#: Sessions happen in [EARLIEST_SESSION_TIME, LATEST_SESSION_TIME) (UTC).
EARLIEST_SESSION_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SESSION_TIME = datetime(2100, 1, 1, tzinfo=UTC)

# --- magnitudes ----------------------------------------------------------------------------------

#: Energy of one session, kWh (also min_kwh/max_kwh restrictions).
MAX_SESSION_ENERGY_KWH = Decimal(100_000)
#: Any other CDR volume (A, kW, hours, percent) of one charging period.
MAX_VOLUME = Decimal(1_000_000)
#: A tariff price (per kWh, per hour, per session; min_price/max_price), in the tariff currency.
MAX_PRICE = Decimal(1_000_000)
#: A price component's step_size (Wh for ENERGY, seconds for TIME and PARKING_TIME).
MAX_STEP_SIZE = 86_400
#: min_power/max_power restrictions, kW, and min_current/max_current, A.
MAX_POWER_KW = Decimal(10_000)
MAX_CURRENT_A = Decimal(10_000)
#: One priced session, excl. VAT: what a document line can hold, with room to spare.
MAX_SESSION_TOTAL = Decimal(1_000_000_000)


def within_session_years(moment: datetime, path: str, error: type[Exception]) -> datetime:
    """A session time must lie between the limits' earliest and latest session times."""
    if not EARLIEST_SESSION_TIME <= moment < LATEST_SESSION_TIME:
        raise error(
            f"{path}: {moment.isoformat()} is outside the years "
            f"{EARLIEST_SESSION_TIME.year} to {LATEST_SESSION_TIME.year - 1} (limit)"
        )
    return moment
