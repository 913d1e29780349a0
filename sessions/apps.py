from django.apps import AppConfig


class ChargingConfig(AppConfig):
    """Locations, EVSEs, OCPI tariffs and priced charging sessions.

    The label is ``charging`` because ``sessions`` belongs to ``django.contrib.sessions``.
    """

    name = "sessions"
    label = "charging"
    verbose_name = "Charging"

    def ready(self) -> None:
        # Imported once the models are loaded, as Django requires.
        from sessions import (
            events,
            exports,  # noqa: F401  (registers the sessions export)
        )

        events.register()
