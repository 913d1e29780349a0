"""Debtor accounts: each named customer gets the next free number of the operator's range,
once; anonymous and ad-hoc customers share the walk-in debtor."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Max

from cpo_portal.kernel.errors import InvalidInput
from customers.models import Customer
from invoicing.accounting.models import DatevSettings, DebtorAccount


class DebtorRangeFull(InvalidInput):
    """The operator's debtor range has no free number left for a new customer."""


WALK_IN_KINDS = (Customer.Kind.ANONYMOUS, Customer.Kind.AD_HOC)


def is_walk_in(customer: Customer) -> bool:
    return customer.kind in WALK_IN_KINDS


def debtor_accounts(*, settings: DatevSettings, customers: Iterable[Customer]) -> dict[int, int]:
    """The debtor account of each customer by customer id; named customers without one get the
    next free numbers of the range, in customer order, and keep them for good."""
    customers = list(customers)
    walk_in = {c.pk: settings.walk_in_debtor for c in customers if is_walk_in(c)}
    wanted = sorted({c.pk for c in customers if c.pk not in walk_in})
    return walk_in | _named_accounts(settings, wanted)


def _named_accounts(settings: DatevSettings, wanted: list[int]) -> dict[int, int]:
    known = dict(
        DebtorAccount.objects.filter(customer_id__in=wanted).values_list("customer_id", "number")
    )
    missing = [pk for pk in wanted if pk not in known]
    if not missing:
        return known
    with transaction.atomic():
        # One writer at a time per operator: the settings row is the lock, so two exports
        # never hand the same number to two customers.
        DatevSettings.objects.select_for_update().get(pk=settings.pk)
        known.update(
            DebtorAccount.objects.filter(customer_id__in=missing).values_list(
                "customer_id", "number"
            )
        )
        missing = [pk for pk in missing if pk not in known]
        in_range = DebtorAccount.objects.filter(
            operator_id=settings.operator_id,
            number__gte=settings.debtor_range_start,
            number__lte=settings.debtor_range_end,
        )
        highest = in_range.aggregate(highest=Max("number"))["highest"]
        following = settings.debtor_range_start if highest is None else highest + 1
        if following + len(missing) - 1 > settings.debtor_range_end:
            raise DebtorRangeFull(
                f"The debtor range {settings.debtor_range_start}-{settings.debtor_range_end} "
                f"has no room for {len(missing)} more customers; widen it in the DATEV "
                "settings.",
                field="debtor_range_end",
            )
        created = DebtorAccount.objects.bulk_create(
            DebtorAccount(operator_id=settings.operator_id, customer_id=pk, number=number)
            for number, pk in enumerate(missing, start=following)
        )
    known.update((account.customer_id, account.number) for account in created)
    return known
