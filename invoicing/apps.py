from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    """Operator (supplier) details, invoicing settings, numbering, documents and payments."""

    name = "invoicing"
    verbose_name = "Invoicing"

    def ready(self) -> None:
        # Imported once the models are loaded, as Django requires.
        from cpo_portal.kernel.issuing_due import register_issuing_due
        from cpo_portal.kernel.tax import register_place_rates
        from customers.notifications import attachments
        from invoicing import receivers  # noqa: F401  (importing connects every receiver)
        from invoicing.accounting import exports  # noqa: F401  (registers the exports)
        from invoicing.documents import events, issue_hooks
        from invoicing.documents.due import issuing_due_rule
        from invoicing.einvoices.issuing import hook as einvoice_hook
        from invoicing.output.document_messages import document_attachments
        from invoicing.payments import events as payment_events
        from invoicing.tax.rules import place_rates_lookup

        events.register()
        payment_events.register()
        # Pricing falls back to the tax rules of the charge point's country (docs/invoicing.md).
        register_place_rates(place_rates_lookup)
        # Ingest records with each session whether it is due for a document (docs/invoicing.md).
        register_issuing_due(issuing_due_rule)
        # Every issue builds and validates the e-invoice of its documents (docs/einvoices.md).
        issue_hooks.register(einvoice_hook)
        # Document e-mails attach the stored PDF and e-invoice when sent (docs/notifications.md).
        attachments.register("document", document_attachments)
