"""A driver's choices of how to hear of each event; mandatory messages cannot be switched off."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from customers.notifications.events import EVENTS
from customers.notifications.models import NotificationPreference

Channels = NotificationPreference.Channels


def preferences_of(customer: Customer) -> list[tuple[object, str, bool]]:
    """Every event with the customer's choice (both when unset); mandatory ones say e-mail."""
    chosen = dict(
        NotificationPreference.objects.filter(customer=customer).values_list("event", "channels")
    )
    return [
        (
            event,
            Channels.EMAIL if event.mandatory else chosen.get(code, Channels.BOTH),
            event.mandatory,
        )
        for code, event in EVENTS.items()
    ]


@transaction.atomic
def set_preferences(customer: Customer, choices: dict[str, str]) -> None:
    """Store the customer's choice per event; a mandatory or unknown event, or an unknown
    channel, is refused whole."""
    errors: dict[str, list[str]] = {}
    for code, channels in choices.items():
        event = EVENTS.get(code)
        if event is None:
            errors[code] = [_("This message does not exist.")]
        elif event.mandatory:
            errors[code] = [_("This message is required and cannot be switched off.")]
        elif channels not in Channels.values:
            errors[code] = [_("Choose e-mail, SMS, both or not at all.")]
    if errors:
        raise InvalidInput(errors=errors)
    for code, channels in choices.items():
        NotificationPreference.objects.update_or_create(
            customer=customer, event=code, defaults={"channels": channels}
        )
