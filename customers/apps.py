from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Drivers and companies, their invoice details and charging tokens."""

    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        # Registers this app's exports with the kernel's registry (docs/exports.md).
        from customers import exports  # noqa: F401
        from customers.notifications import webhooks

        webhooks.register()
