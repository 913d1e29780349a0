from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    """Operator (supplier) details, invoicing settings, numbering, documents and payments."""

    name = "invoicing"
    verbose_name = "Invoicing"

    def ready(self) -> None:
        # Imported once the models are loaded, as Django requires; importing the receivers
        # connects them (the one list of what follows each signal).
        from invoicing import receivers  # noqa: F401
        from invoicing.documents import events

        events.register()
        # Registers this app's exports with the kernel's registry (docs/exports.md).
        from invoicing.accounting import exports  # noqa: F401
