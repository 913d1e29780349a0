from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    """Operator (supplier) details, invoicing settings, numbering, documents and payments."""

    name = "invoicing"
    verbose_name = "Invoicing"
