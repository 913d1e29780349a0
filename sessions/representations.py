"""How a session's priced breakdown is shown to integrators, wherever an API embeds it."""

from __future__ import annotations

from rest_framework import serializers

from sessions.models import SessionChargeLine


class ChargeLineSerializer(serializers.ModelSerializer):
    """One priced component of a session: the breakdown the PDF shows."""

    position = serializers.IntegerField(help_text="Order of the line within the session.")
    component = serializers.CharField(
        help_text="energy, charging_time, parking_time (idle fee), connection_fee or "
        "price_adjustment (minimum/maximum price)."
    )
    quantity = serializers.DecimalField(
        max_digits=14, decimal_places=3, help_text="Billed quantity in `unit` (after step sizes)."
    )
    unit = serializers.CharField(help_text="kWh, minute or package.")
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=6, help_text="Price per unit excl. VAT."
    )
    net = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Amount excl. VAT.")
    vat_category = serializers.CharField(help_text="electricity or services.")
    vat_rate = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text="VAT rate in percent."
    )
    vat = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="VAT of the line.")
    gross = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Amount incl. VAT.")

    class Meta:
        model = SessionChargeLine
        fields = [
            "position",
            "component",
            "quantity",
            "unit",
            "unit_price",
            "net",
            "vat_category",
            "vat_rate",
            "vat",
            "gross",
        ]
