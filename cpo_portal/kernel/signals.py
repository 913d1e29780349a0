"""What the kernel announces to the apps above it; receivers: invoicing/receivers.py."""

from django.dispatch import Signal

# Webhook deliveries were written to the outbox (in the caller's transaction). Argument:
# `delivery_ids`.
webhook_deliveries_written = Signal()
