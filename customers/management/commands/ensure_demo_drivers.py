"""Give the demo drivers portal accounts and print how to sign in (development set-up)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.models import Customer
from customers.services import PORTAL_KINDS, PortalAccountError, create_portal_account

# Known on purpose: the demo is for trying the portal on a laptop. Outside the development
# profile the command refuses to run without --password.
DEMO_PASSWORD = "charge-demo-2026"  # noqa: S105 - a documented demo password, never production
DEMO_OPERATOR = "VoltWay"
# The demo's named drivers and first fleets come first; a few hundred accounts would take
# minutes of password hashing at every start.
DEMO_ACCOUNTS = 8


class Command(BaseCommand):
    help = (
        "Create a portal account for the first demo drivers (individuals and companies of the "
        "demo operator with an e-mail) that have none, and print the sign-ins."
    )

    def add_arguments(self, parser):
        parser.add_argument("--operator", default=DEMO_OPERATOR, help="Operator's trading name.")
        parser.add_argument(
            "--password", help="Password for new accounts (default: the demo password)."
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=DEMO_ACCOUNTS,
            help=f"How many drivers, oldest first (default: {DEMO_ACCOUNTS}).",
        )

    def handle(self, *args, operator: str, password: str | None, limit: int, **options):
        if not settings.DEVELOPMENT and not password:
            raise CommandError(
                "Outside the development profile give the password with --password; "
                "no demo password is set in production."
            )
        password = password or DEMO_PASSWORD
        drivers = (
            Customer.objects.filter(operator__name=operator, kind__in=PORTAL_KINDS)
            .exclude(email="")
            .select_related("user")
            .order_by("id")
        )
        others = max(drivers.count() - limit, 0)
        drivers = drivers[:limit]
        if not drivers:
            self.stdout.write(f"No drivers of “{operator}” yet (run seed_demo first).")
            return
        created = 0
        rows = []
        for driver in drivers:
            if driver.user is None:
                try:
                    create_portal_account(customer=driver, password=password)
                except PortalAccountError as exc:
                    self.stderr.write(f"  {driver.display_name}: {exc}")
                    continue
                created += 1
            rows.append(f"    {driver.user.email:<32} {driver.display_name}")
        port = os.environ.get("WEB_PORT", "8000")
        self.stdout.write(self.style.SUCCESS(f"Driver portal ready ({created} accounts created)."))
        self.stdout.write(f"  Portal:   http://127.0.0.1:{port}/sign-in/")
        self.stdout.write(f"  Password: {password} (unless a driver has changed it)")
        self.stdout.write("  Drivers:")
        for row in rows:
            self.stdout.write(row)
        if others:
            self.stdout.write(f"    … and {others} more drivers without a portal account.")
