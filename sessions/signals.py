"""What the sessions layer announces to the layers above it; receivers: invoicing/receivers.py."""

from django.dispatch import Signal

# Ingest stored new sessions (in the caller's transaction). Arguments: `operator`, `sessions`
# (the stored ChargingSession objects, their customers attached).
sessions_ingested = Signal()

# Staff released quarantined sessions: their signed data now verify and they are priced.
# Arguments: `operator`, `sessions`.
sessions_released = Signal()
