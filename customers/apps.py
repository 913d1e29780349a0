from django.apps import AppConfig


class CustomersConfig(AppConfig):
    """Drivers and companies, their invoice details and charging tokens."""

    name = "customers"
    verbose_name = "Customers"
