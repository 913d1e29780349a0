"""Signed meter data (Eichrecht): read it from what the CPMS sends, verify it, hand it over.

See docs/metering.md for the rules and the per-EVSE flags.
"""
