"""Rebuild the dashboard's monthly summary tables from the sessions and issued documents."""

from django.core.management.base import BaseCommand, CommandError

from cpo_portal.kernel.periods import InvalidPeriod, parse_period, today_for
from invoicing.dashboard.summaries import rebuild_months
from invoicing.models import Operator


class Command(BaseCommand):
    help = "Recompute the dashboard's monthly summaries from a month (YYYY-MM) to this month."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="First month to rebuild, YYYY-MM.")

    def handle(self, *args, since, **options):
        operator = Operator.objects.order_by("pk").first()
        if operator is None:
            raise CommandError("No operator is set up yet: nothing to summarise.")
        try:
            first = parse_period(since)
        except InvalidPeriod as error:
            raise CommandError(str(error)) from error
        last = today_for(operator).replace(day=1)
        if first > last:
            raise CommandError("--since must not be after this month.")
        rows = rebuild_months(first, last, operator.time_zone)
        self.stdout.write(f"Rebuilt {first:%Y-%m} to {last:%Y-%m}: {rows} summary rows.")
