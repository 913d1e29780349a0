"""Benchmark: the document and session admin lists, and the integrator API's invoice list, over
a million documents and ten million sessions on PostgreSQL, in a scratch database next to the
configured one."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from io import StringIO
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from psycopg import sql
from tqdm import tqdm

from cpo_portal.kernel.api.formats import ApiCursorPagination
from cpo_portal.kernel.integrations.keys import create_api_key
from customers.models import Customer
from invoicing.documents.composition import profile_for
from invoicing.management.commands.bench_billing import (
    _fixtures,
    _switch_database,
    scratch_database,
)
from invoicing.models import (
    ApiKey,
    Document,
    DocumentKind,
    DocumentStatus,
    Integrator,
    NumberingSeries,
)
from invoicing.setup.operators import ensure_series
from sessions.models import EVSE, Location

TARGET_MS = 300
API_TARGET_P95_MS = 100
# The benchmark key's own throttle: far above the few hundred requests of a measurement.
API_REQUESTS_PER_MINUTE = 1_000_000
API_DEEP_PAGE_HOPS = 50  # `next` links followed from the first page to the deep page
SCRATCH_COMMENT = "cpo-portal bench_admin scratch database; dropped after the benchmark"
BATCH_ROWS = 1_000_000
EVSES_PER_LOCATION = 5
UNBILLED_EVERY = 31  # one older session in 31 was never billed (missing details, walk-ins)
CREDITED_EVERY = 34  # one document in 34 is a credit note (of another one)
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Katharina",
    "Leon", "Lena", "Lukas", "Marie", "Max", "Mia", "Noah", "Paul", "Sophie", "Tim",
    "Elias", "Finn", "Ida", "Jan", "Lea", "Luis", "Mila", "Moritz", "Nele", "Oskar",
    "Pia", "Rafael", "Sara", "Theo", "Ute", "Vincent", "Wiebke", "Xaver", "Yvonne", "Zoe",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
    "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange",
    "Schmitt", "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze",
    "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs",
    "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert", "Vogel",
    "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz",
    "Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus",
    "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß",
    "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Schulte", "Dietrich",
    "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Thomas", "Voigt",
    "Sauer", "Arnold", "Wolff", "Pfeiffer",
]  # fmt: skip
# Recipients' countries, weighted: 100 slots.
RECIPIENT_COUNTRIES = (
    ["DE"] * 70 + ["AT"] * 10 + ["NL"] * 6 + ["FR"] * 4 + ["PL"] * 3
    + ["CH"] * 2 + ["BE"] * 2 + ["DK", "CZ", "IT"]
)  # fmt: skip
CITIES = {
    "DE": "Berlin", "AT": "Wien", "NL": "Amsterdam", "FR": "Strasbourg", "PL": "Szczecin",
    "CH": "Basel", "BE": "Liège", "DK": "Aarhus", "CZ": "Praha", "IT": "Bolzano",
}  # fmt: skip
# Charging sites: (country, city, time zone), weighted: 10 slots.
SITES = [
    ("DE", "Berlin", "Europe/Berlin"), ("DE", "Hamburg", "Europe/Berlin"),
    ("DE", "München", "Europe/Berlin"), ("DE", "Köln", "Europe/Berlin"),
    ("DE", "Frankfurt", "Europe/Berlin"), ("DE", "Leipzig", "Europe/Berlin"),
    ("DE", "Stuttgart", "Europe/Berlin"), ("DE", "Dresden", "Europe/Berlin"),
    ("AT", "Wien", "Europe/Vienna"), ("NL", "Amsterdam", "Europe/Amsterdam"),
]  # fmt: skip

CUSTOMERS_SQL = """
INSERT INTO customers_customer (
    operator_id, kind, name, company_name, company_registration_id, vat_id, street, postal_code,
    city, country, email, language, requires_invoice, billing_mode, created_at, updated_at)
SELECT %(operator)s, kind,
       CASE WHEN kind = 'ad_hoc' THEN '' ELSE first_name || ' ' || last_name END,
       CASE WHEN kind = 'company' THEN last_name || ' Logistik ' || g || ' GmbH' ELSE '' END,
       CASE WHEN kind = 'company' THEN 'HRB ' || (100000 + g) ELSE '' END,
       CASE WHEN kind = 'company' THEN country || lpad(g::text, 9, '0') ELSE '' END,
       'Ladeweg ' || (1 + mod(g, 200)), lpad((1000 + mod(g * 7, 89999))::text, 5, '0'),
       (%(cities)s::text[])[array_position(%(city_countries)s::text[], country)], country,
       CASE WHEN kind = 'company' THEN 'billing' || g || '@fleet' || mod(g, 97) || '.example'
            ELSE lower(first_name) || '.' || g || '@example.org' END,
       CASE WHEN country IN ('DE', 'AT', 'CH') THEN 'de' ELSE 'en' END, true, '', now(), now()
FROM (
    SELECT g,
           CASE WHEN mod(g, 5) = 0 THEN 'company' WHEN mod(g, 50) = 1 THEN 'ad_hoc'
                ELSE 'individual' END AS kind,
           (%(first_names)s::text[])[1 + mod(g, %(n_first)s)] AS first_name,
           (%(last_names)s::text[])[1 + mod(g / %(n_first)s, %(n_last)s)] AS last_name,
           (%(countries)s::text[])[1 + mod(g * 7919, 100)] AS country
    FROM generate_series(1, %(customers)s) AS g
) AS drawn
"""

LOCATIONS_SQL = """
INSERT INTO charging_location (operator_id, name, street, postal_code, city, country, time_zone)
SELECT %(operator)s, (%(cities)s::text[])[i] || ' ' || (%(quarters)s::text[])[1 + mod(g, 8)]
           || ' ' || g,
       'Ladestraße ' || (1 + mod(g, 99)), lpad((1000 + mod(g * 13, 89999))::text, 5, '0'),
       (%(cities)s::text[])[i], (%(countries)s::text[])[i], (%(zones)s::text[])[i]
FROM (SELECT g, 1 + mod(g, 10) AS i FROM generate_series(1, %(locations)s) AS g) AS drawn
"""

EVSES_SQL = """
INSERT INTO charging_evse (location_id, evse_id, max_power_kw)
SELECT location.id, 'DE*ADM*E' || lpad(location.id::text, 7, '0') || '*' || n,
       CASE WHEN n = 1 THEN 150 ELSE 22 END
FROM charging_location AS location CROSS JOIN generate_series(1, %(per_location)s) AS n
WHERE location.operator_id = %(operator)s AND location.id >= %(first_location)s
ORDER BY location.id, n
"""

SESSIONS_SQL = """
INSERT INTO charging_chargingsession (
    operator_id, source, source_id, payload_format, customer_id, evse_id, tariff_id,
    tariff_snapshot_id, started_at, ended_at, energy_kwh, charging_seconds, idle_seconds,
    charging_periods, status, currency, total_net, total_vat, total_gross, ocpi_totals,
    priced_at, raw_payload, received_at)
SELECT %(operator)s, 'bench-admin', 'CDR-' || lpad(g::text, 9, '0'), 'native',
       CASE WHEN r_walk_in < 0.04 THEN NULL  -- walk-ins paying by card
            ELSE (%(customers)s::bigint[])[1 + floor(power(r_customer, 1.5)
                                                     * %(n_customers)s)::int] END,
       (%(evses)s::bigint[])[1 + floor(r_evse * %(n_evses)s)::int],
       CASE WHEN dc THEN %(dc_tariff)s ELSE %(ac_tariff)s END,
       CASE WHEN dc THEN %(dc_snapshot)s ELSE %(ac_snapshot)s END,
       started_at, CASE WHEN active THEN NULL ELSE ended_at END,
       energy, charging, idle, '[]'::jsonb, CASE WHEN active THEN 'active' ELSE 'completed' END,
       'EUR', net, round(net * 0.19, 2), net + round(net * 0.19, 2), '{}'::jsonb,
       CASE WHEN active THEN NULL ELSE ended_at END, '{}', least(ended_at, now())
FROM (
    SELECT drawn.*, started_at + make_interval(secs => charging + idle) AS ended_at,
           round(energy * CASE WHEN dc THEN 0.59 ELSE 0.39 END + idle / 60 * 0.10, 2) AS net
    FROM (
        SELECT g, random() AS r_customer, random() AS r_walk_in, random() AS r_evse,
               random() < 0.3 AS dc,
               g > %(active_after)s AS active,
               %(start)s::timestamptz + make_interval(secs => (g - 1 + random()) * %(spacing)s)
                   AS started_at,
               (900 + floor(random() * 14000))::int AS charging,
               (CASE WHEN random() < 0.3 THEN 0 ELSE 60 * floor(random() * 45) END)::int AS idle,
               round((3 + random() * 60)::numeric, 3) AS energy
        FROM generate_series(%(first)s, %(last)s) AS g
    ) AS drawn
) AS priced
"""

DOCUMENTS_SQL = """
INSERT INTO invoicing_document (
    operator_id, kind, origin, status, series_id, number, display_number, customer_id,
    credited_document_id, reason, profile_id, language, currency, issue_date, due_date,
    period_start, period_end, recipient_name, recipient_company_registration_id,
    recipient_vat_id, recipient_street, recipient_postal_code, recipient_city,
    recipient_country, recipient_email, delivery_country, session_count, total_energy_kwh,
    total_duration_seconds, vat_summary, total_net, total_vat, total_gross, amount_paid, paid_on,
    issued_at, created_at)
SELECT %(operator)s, shaped.kind, origin, status, series.id, number,
       series.prefix || lpad(number::text, series.padding, '0'), customer.id, NULL, '',
       %(profile)s, CASE WHEN customer.language = '' THEN 'en' ELSE customer.language END, 'EUR',
       issue_date, issue_date + 14,
       CASE WHEN origin = 'monthly'
            THEN (date_trunc('month', issue_date) - interval '1 month')::date
            ELSE issue_date END,
       CASE WHEN origin = 'monthly'
            THEN (date_trunc('month', issue_date) - interval '1 day')::date
            ELSE issue_date END,
       CASE WHEN customer.kind = 'company' THEN customer.company_name
            WHEN customer.kind = 'anonymous' THEN 'Anonymous customer'
            ELSE coalesce(nullif(customer.name, ''), customer.email) END,
       customer.company_registration_id, customer.vat_id, customer.street, customer.postal_code,
       customer.city, customer.country, customer.email, 'Germany', sessions,
       round(sessions * (8 + r_amount * 30)::numeric, 3),
       sessions * (2400 + floor(r_amount * 9000)),
       '[]'::jsonb, net, round(net * 0.19, 2), net + round(net * 0.19, 2),
       CASE WHEN status = 'paid' THEN net + round(net * 0.19, 2) ELSE 0 END,
       CASE WHEN status = 'paid' THEN least(issue_date + 10, %(today)s::date) END,
       issue_date + time '03:00', issue_date + time '03:00'
FROM (
    SELECT drawn.*,
           row_number() OVER (PARTITION BY kind ORDER BY g) + %(numbered)s AS number,
           CASE WHEN kind = 'sales_receipt' THEN 'per_session'
                WHEN kind = 'pro_forma' OR r_origin < 0.7 THEN 'monthly'
                ELSE 'per_session' END AS origin,
           CASE WHEN mod(g, %(credit_step)s) = 0 AND g / %(credit_step)s <= %(credit_notes)s
                    THEN 'credited'
                WHEN issue_date < %(today)s::date - 45 THEN
                    CASE WHEN r_status < 0.96 THEN 'paid' WHEN r_status < 0.985 THEN 'overdue'
                         ELSE 'issued' END
                WHEN issue_date < %(today)s::date - 14 THEN
                    CASE WHEN r_status < 0.7 THEN 'paid' ELSE 'overdue' END
                ELSE CASE WHEN r_status < 0.3 THEN 'paid' ELSE 'issued' END
           END AS status
    FROM (
        SELECT g, random() AS r_status, random() AS r_origin, random() AS r_amount,
               CASE WHEN r_kind < 0.08 THEN 'sales_receipt' WHEN r_kind < 0.09 THEN 'pro_forma'
                    ELSE 'invoice' END AS kind,
               %(first_day)s::date + floor((g - 1) * %(days)s::float8 / %(documents)s)::int
                   AS issue_date,
               1 + floor(power(random(), 3) * 40)::int AS sessions,
               round((5 + power(random(), 2) * 400)::numeric, 2) AS net,
               1 + floor(power(r_customer, 1.5) * %(n_customers)s)::int AS k
        FROM (SELECT g, random() AS r_kind, random() AS r_customer
              FROM generate_series(1, %(documents)s) AS g) AS raw
    ) AS drawn
) AS shaped
JOIN invoicing_numberingseries AS series
    ON series.operator_id = %(operator)s AND series.kind = shaped.kind
JOIN customers_customer AS customer
    ON customer.id = CASE WHEN shaped.kind = 'sales_receipt' THEN %(anonymous)s
                          ELSE (%(customers)s::bigint[])[k] END
ORDER BY g
"""

CREDIT_NOTES_SQL = """
INSERT INTO invoicing_document (
    operator_id, kind, origin, status, series_id, number, display_number, customer_id,
    credited_document_id, reason, profile_id, language, currency, issue_date, due_date,
    period_start, period_end, recipient_name, recipient_company_registration_id,
    recipient_vat_id, recipient_street, recipient_postal_code, recipient_city,
    recipient_country, recipient_email, delivery_country, session_count, total_energy_kwh,
    total_duration_seconds, vat_summary, total_net, total_vat, total_gross, amount_paid,
    issued_at, created_at)
SELECT original.operator_id, 'credit_note', 'correction', 'issued', series.id, credited.number,
       series.prefix || lpad(credited.number::text, series.padding, '0'), original.customer_id,
       original.id, 'Wrong recipient details', original.profile_id, original.language,
       original.currency, credited.issue_date, credited.issue_date + 14, original.period_start,
       original.period_end, original.recipient_name, original.recipient_company_registration_id,
       original.recipient_vat_id, original.recipient_street, original.recipient_postal_code,
       original.recipient_city, original.recipient_country, original.recipient_email,
       original.delivery_country, original.session_count, -original.total_energy_kwh,
       -original.total_duration_seconds, '[]'::jsonb, -original.total_net, -original.total_vat,
       -original.total_gross, 0, credited.issue_date + time '04:00',
       credited.issue_date + time '04:00'
FROM (
    SELECT id, row_number() OVER (ORDER BY id) AS number,
           least(issue_date + 7, %(today)s::date) AS issue_date
    FROM invoicing_document WHERE operator_id = %(operator)s AND status = 'credited'
) AS credited
JOIN invoicing_document AS original ON original.id = credited.id
JOIN invoicing_numberingseries AS series
    ON series.operator_id = %(operator)s AND series.kind = 'credit_note'
ORDER BY credited.id
"""

BILLED_SESSIONS_SQL = """
INSERT INTO invoicing_billedsession (document_id, session_id, document_kind, is_reversed)
SELECT %(first_document)s
           + floor((s.id - %(first_session)s)::float8 * %(documents)s / %(sessions)s)::bigint,
       s.id, 'invoice', false
FROM charging_chargingsession AS s
WHERE s.id BETWEEN %(low)s AND %(high)s AND s.started_at < %(cutoff)s
  AND mod(s.id, %(unbilled_every)s) <> 0
"""

GUARD_TRIGGER_SQL = "ALTER TABLE invoicing_billedsession %s TRIGGER invoicing_billedsession_guard"

FILLED_TABLES = (
    "customers_customer",
    "charging_location",
    "charging_evse",
    "charging_chargingsession",
    "invoicing_document",
    "invoicing_numberingseries",
    "invoicing_billedsession",
)


@dataclass
class Size:
    documents: int
    sessions: int
    customers: int
    locations: int
    months: int


@dataclass
class Measure:
    """One page, requested `repeat` times."""

    page: str
    url: str
    timings_ms: list[float]
    queries: int
    rows: int

    @property
    def median(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95(self) -> float:
        return percentile(self.timings_ms, 95)


@dataclass
class AdminMeasure(Measure):
    """One admin page: its list, and the row count its paginator shows."""

    list_name: str
    shown: str


def percentile(values: list[float], percent: float) -> float:
    """Nearest rank: the smallest value that at least `percent` % of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


class Command(BaseCommand):
    help = (
        "Time the document and session admin lists (first page, filtered, search, page 50) "
        "and the integrator API's invoice list (pages, filters, a deep cursor) over 1,000,000 "
        "documents and 10,000,000 sessions on PostgreSQL, in a scratch database created (and "
        "dropped) for it; report the server time and queries per page."
    )

    def add_arguments(self, parser):
        parser.add_argument("--documents", type=int, default=1_000_000, help="Default 1000000.")
        parser.add_argument("--sessions", type=int, default=10_000_000, help="Default 10000000.")
        parser.add_argument("--customers", type=int, default=100_000, help="Default 100000.")
        parser.add_argument("--locations", type=int, default=2_000, help="Default 2000.")
        parser.add_argument(
            "--months", type=int, default=36, help="History the rows spread over (default 36)."
        )
        parser.add_argument(
            "--repeat", type=int, default=5, help="Timed requests per admin page (default 5)."
        )
        parser.add_argument(
            "--api-repeat",
            type=int,
            default=20,
            help="Timed requests per API page (default 20).",
        )
        parser.add_argument(
            "--database-name",
            help="The scratch database (default: the configured name + _bench_admin).",
        )
        parser.add_argument(
            "--keep", action="store_true", help="Keep the scratch database afterwards."
        )
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Measure again in the database an earlier --keep run left (no new data; kept).",
        )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "The admin-list benchmark needs PostgreSQL (its planner estimates, COPY-speed "
                "generation, the sizes it is about); set DATABASE_URL=postgres://… ."
            )
        size = Size(
            documents=options["documents"],
            sessions=options["sessions"],
            customers=options["customers"],
            locations=options["locations"],
            months=options["months"],
        )
        if min(vars(size).values()) < 1 or min(options["repeat"], options["api_repeat"]) < 1:
            raise CommandError("Sizes, --months, --repeat and --api-repeat must be positive.")
        scratch = options["database_name"] or f"{connection.settings_dict['NAME']}_bench_admin"
        if scratch == connection.settings_dict["NAME"]:
            raise CommandError("The scratch database must not be the configured database.")

        if options["reuse"]:
            with reused_database(scratch):
                measures, counts = self._measure(options["repeat"]), _table_estimates()
                api_measures = self._measure_api(options["api_repeat"])
            self.stdout.write(self._report(measures, counts, reused=True))
            self.stdout.write(self._api_report(api_measures))
            return
        with scratch_database(scratch, keep=options["keep"], comment=SCRATCH_COMMENT):
            self.stderr.write(
                f"Generating {size.customers:,} customers, {size.locations:,} locations, "
                f"{size.sessions:,} sessions and {size.documents:,} documents over "
                f"{size.months} months…"
            )
            started = time.perf_counter()
            _generate(size)
            generated = time.perf_counter() - started
            measures, counts = self._measure(options["repeat"]), _table_estimates()
            api_measures = self._measure_api(options["api_repeat"])
        self.stdout.write(f"Data generated in {generated:.0f} s (not measured).")
        self.stdout.write(self._report(measures, counts, reused=False))
        self.stdout.write(self._api_report(api_measures))
        if options["keep"]:
            self.stdout.write(
                f"The data stays in the database “{scratch}” (--keep); measure again with --reuse."
            )

    # --- measuring -------------------------------------------------------------------------

    def _measure(self, repeat: int) -> list[AdminMeasure]:
        user_model = get_user_model()
        user, _created = user_model.objects.get_or_create(
            username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        client = Client(HTTP_HOST=_allowed_host())
        client.force_login(user)
        pages = _pages()
        measures = []
        for list_name, page, url in tqdm(pages, desc="Measure", unit="page", file=sys.stderr):
            measures.append(_measure_page(client, list_name, page, url, repeat))
        return measures

    def _report(self, measures: list[AdminMeasure], counts: dict[str, int], *, reused: bool) -> str:
        lines = [
            f"Admin lists on {_machine()}",
            f"  {counts['invoicing_document']:,} documents, "
            f"{counts['charging_chargingsession']:,} sessions, "
            f"{counts['invoicing_billedsession']:,} session links, "
            f"{counts['customers_customer']:,} customers, {counts['charging_location']:,} "
            f"locations (planner estimates{', reused database' if reused else ''}).",
            f"  {'list':<10} {'page':<40} {'median':>8} {'min':>7} {'max':>7} "
            f"{'queries':>7} {'rows':>5}  count shown",
        ]
        for m in measures:
            lines.append(
                f"  {m.list_name:<10} {m.page:<40} {m.median:6.0f} ms {min(m.timings_ms):4.0f} ms "
                f"{max(m.timings_ms):4.0f} ms {m.queries:>7} {m.rows:>5}  {m.shown}"
            )
        slowest = max(measures, key=lambda m: m.median)
        return self._with_verdict(
            lines,
            within=slowest.median < TARGET_MS,
            met=f"Meets the target: every page under {TARGET_MS} ms (slowest: "
            f"{slowest.list_name}, {slowest.page}, {slowest.median:.0f} ms).",
            missed=f"Misses the target of {TARGET_MS} ms: {slowest.list_name}, {slowest.page}, "
            f"{slowest.median:.0f} ms.",
        )

    def _with_verdict(self, lines: list[str], *, within: bool, met: str, missed: str) -> str:
        style = self.style.SUCCESS if within else self.style.WARNING
        return "\n".join(lines) + "\n" + style(met if within else missed)

    def _measure_api(self, repeat: int) -> list[Measure]:
        """Each API page with a read key of an integrator of the benchmark operator."""
        operator_id = Document.objects.order_by("-pk").values_list("operator", flat=True).first()
        if operator_id is None:
            raise CommandError("No documents to list.")
        integrator, _created = Integrator.objects.get_or_create(
            operator_id=operator_id,
            session_source="bench-admin-api",
            defaults={"name": "bench_admin ERP"},
        )
        key = create_api_key(
            integrator=integrator,
            name="bench_admin read key",
            scope=ApiKey.Scope.READ,
            requests_per_minute=API_REQUESTS_PER_MINUTE,
        ).plaintext
        client = Client(HTTP_HOST=_allowed_host(), HTTP_AUTHORIZATION=f"Bearer {key}")
        pages = _api_pages(client)
        return [
            _measure_api_page(client, page, url, repeat)
            for page, url in tqdm(pages, desc="Measure API", unit="page", file=sys.stderr)
        ]

    def _api_report(self, measures: list[Measure]) -> str:
        timings = [ms for m in measures for ms in m.timings_ms]
        overall = percentile(timings, 95)
        lines = [
            f"Integrator API invoice list ({reverse('api:invoice-list')}, read key, "
            f"{len(measures[0].timings_ms)} timed requests per page after a warm-up):",
            f"  {'page':<52} {'median':>8} {'p95':>7} {'max':>7} {'queries':>7} {'rows':>5}",
        ]
        for m in measures:
            lines.append(
                f"  {m.page:<52} {m.median:5.0f} ms {m.p95:4.0f} ms {max(m.timings_ms):4.0f} ms "
                f"{m.queries:>7} {m.rows:>5}"
            )
        lines.append(f"  all {len(timings)} timed API requests: p95 {overall:.0f} ms")
        with_rows = [m for m in measures if m.rows]
        queries = sorted({m.queries for m in with_rows})
        if len(queries) == 1:
            rows = sorted(m.rows for m in with_rows)
            lines.append(
                f"  the same {queries[0]} queries on every page, {rows[0]} to {rows[-1]} rows."
            )
        else:
            lines.append(
                self.style.WARNING(f"  queries per page differ ({queries}): a query per row?")
            )
        slowest = max(measures, key=lambda m: m.p95)
        return self._with_verdict(
            lines,
            within=overall <= API_TARGET_P95_MS,
            met=f"API invoice list meets the target: p95 {overall:.0f} ms <= "
            f"{API_TARGET_P95_MS} ms (slowest page: {slowest.page}, p95 {slowest.p95:.0f} ms).",
            missed=f"API invoice list misses the target of p95 <= {API_TARGET_P95_MS} ms: "
            f"{overall:.0f} ms (slowest page: {slowest.page}, p95 {slowest.p95:.0f} ms).",
        )


def _pages() -> list[tuple[str, str, str]]:
    """(list, page, URL) of every measured page, with values found in the data."""
    today = timezone.localdate()
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    last_month = last_month_end.replace(day=1)
    quarter_start = _months_before(month_start, 3)
    documents = reverse("admin:invoicing_document_changelist")
    sessions = reverse("admin:charging_chargingsession_changelist")
    customer = (
        Customer.objects.filter(kind=Customer.Kind.INDIVIDUAL, documents__isnull=False)
        .order_by("pk")
        .first()
    )
    email = customer.email if customer else "nobody@example.org"
    first_name, last_name = [*customer.name.split(), "", ""][:2] if customer else ("A", "")
    name_prefix = f"{first_name} {last_name[:3]}".strip()
    invoice = Document.objects.filter(kind=DocumentKind.INVOICE).order_by("pk").first()
    number = invoice.display_number if invoice else "INV"
    location = Location.objects.order_by("-pk").first()
    # Page 50, or the last full page of a smaller data set (a page past the end is an error).
    estimates = _table_estimates()
    pages = {
        name: max(1, min(50, estimates[table] // 100))
        for name, table in (
            ("documents", "invoicing_document"),
            ("sessions", "charging_chargingsession"),
        )
    }
    rows = [
        ("documents", "first page", documents, {}),
        (
            "documents",
            "status paid + issue dates (last 3 months)",
            documents,
            {
                "status__exact": "paid",
                "issue_date__gte": quarter_start.isoformat(),
                "issue_date__lte": last_month_end.isoformat(),
            },
        ),
        (
            "documents",
            "company customers in AT",
            documents,
            {"customer_kind": "company", "recipient_country": "AT"},
        ),
        ("documents", f"search e-mail ({email})", documents, {"q": email}),
        ("documents", f"search name prefix ({name_prefix})", documents, {"q": name_prefix}),
        (
            "documents",
            f"search number ({number})",
            documents,
            {"q": number},
        ),
        ("documents", f"page {pages['documents']}", documents, {"p": pages["documents"]}),
        ("sessions", "first page", sessions, {}),
        (
            "sessions",
            "not invoiced + start dates (last month)",
            sessions,
            {
                "invoiced": "no",
                "started_at__gte": last_month.isoformat(),
                "started_at__lte": last_month_end.isoformat(),
            },
        ),
        ("sessions", "one location", sessions, {"location": location.pk if location else 0}),
        ("sessions", f"search e-mail ({email})", sessions, {"q": email}),
        ("sessions", f"page {pages['sessions']}", sessions, {"p": pages["sessions"]}),
    ]
    return [
        (name, page, f"{url}?{urlencode(params)}" if params else url)
        for name, page, url, params in rows
    ]


def _api_pages(client: Client) -> list[tuple[str, str]]:
    """(page, URL) of every measured page of the API's invoice list, with values from the data."""
    today = timezone.localdate()
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    quarter_start = _months_before(month_start, 3)
    listed = Document.objects.exclude(status=DocumentStatus.DRAFT)
    customer = (
        Customer.objects.filter(kind=Customer.Kind.INDIVIDUAL, documents__isnull=False)
        .order_by("pk")
        .first()
    )
    customer_id = customer.pk if customer else 0
    customer_documents = listed.filter(customer_id=customer_id).count()
    invoice = listed.filter(kind=DocumentKind.INVOICE).order_by("pk").first()
    number = invoice.display_number if invoice else "INV"
    largest = ApiCursorPagination.max_page_size
    rows = [
        (f"first page (default size, {ApiCursorPagination.page_size})", {}),
        (f"page_size={largest} (the largest)", {"page_size": largest}),
        (
            "status=paid + issued_from/issued_to (last 3 months)",
            {
                "status": DocumentStatus.PAID,
                "issued_from": quarter_start.isoformat(),
                "issued_to": last_month_end.isoformat(),
            },
        ),
        ("kind=credit_note", {"kind": DocumentKind.CREDIT_NOTE}),
        (f"customer={customer_id} ({customer_documents:,} documents)", {"customer": customer_id}),
        (f"number={number}", {"number": number}),
    ]
    url = reverse("api:invoice-list")
    pages = [(page, f"{url}?{urlencode(params)}" if params else url) for page, params in rows]
    # The deep page: reached as an integrator reaches it, by following `next` links.
    deep, hops = url, 0
    while hops < API_DEEP_PAGE_HOPS:
        following = _api_get(client, deep).get("next")
        if not following:
            break
        parts = urlsplit(following)
        deep, hops = f"{parts.path}?{parts.query}", hops + 1
    pages.append((f"page {hops + 1} (after {hops} next links)", deep))
    return pages


def _api_get(client: Client, url: str) -> dict:
    response = client.get(url, secure=True)
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}: {response.content[:200]!r}")
    return json.loads(response.content)


def _measure_api_page(client: Client, page: str, url: str, repeat: int) -> Measure:
    _api_get(client, url)  # warm-up; it also records the key's use of this minute (a write)
    with CaptureQueriesContext(connection) as queries:
        rows = len(_api_get(client, url)["results"])
    # Read now: the next request clears the connection's query log.
    query_count = len(queries.captured_queries)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise CommandError(f"{url} answered {response.status_code}.")
    return Measure(page=page, url=url, timings_ms=timings, queries=query_count, rows=rows)


PAGINATOR_RE = re.compile(r'<p class="paginator">(.*?)</p>', re.S)
TAG_RE = re.compile(r"<[^>]+>")


def _measure_page(client: Client, list_name: str, page: str, url: str, repeat: int) -> AdminMeasure:
    response = client.get(url, secure=True)  # warm-up: templates, caches, buffers
    if response.status_code != 200:
        raise CommandError(f"{url} answered {response.status_code}.")
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, secure=True)
    text = response.content.decode()
    found = PAGINATOR_RE.search(text)
    shown = ""
    if found:
        # "1 2 3 … 10000 about 1000000 documents": the count is what follows the page links.
        words = " ".join(TAG_RE.sub(" ", found.group(1)).replace("Show all", "").split())
        count = re.search(r"((?:about )?[\d,.]+ \D+)$", words)
        shown = count.group(1) if count else words[-40:]
    return AdminMeasure(
        list_name=list_name,
        page=page,
        url=url,
        timings_ms=timings,
        queries=len(queries.captured_queries),
        rows=text.count('class="action-select"'),
        shown=shown,
    )


def _allowed_host() -> str:
    hosts = [host for host in settings.ALLOWED_HOSTS if host not in ("*", "")]
    return hosts[0].lstrip(".") if hosts else "localhost"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
        cursor.execute("SHOW shared_buffers")
        (shared_buffers,) = cursor.fetchone()
    return (
        f"{cpu}, {os.cpu_count()} cores; PostgreSQL {version.split()[0]} "
        f"(shared_buffers {shared_buffers}); Django test client in this process, DEBUG off:"
    )


def _table_estimates() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples::bigint FROM pg_class WHERE relname = ANY(%s)",
            [list(FILLED_TABLES)],
        )
        found = dict(cursor.fetchall())
    return {table: max(0, found.get(table, 0)) for table in FILLED_TABLES}


@contextmanager
def reused_database(name: str) -> Iterator[None]:
    """Switch to the scratch database an earlier --keep run left; switch back, keep it."""
    original = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        )
        found = cursor.fetchone()
    if not found or found[0] != SCRATCH_COMMENT:
        raise CommandError(f"No database “{name}” left by `bench_admin --keep` to reuse.")
    _switch_database(name)
    try:
        call_command("migrate", interactive=False, verbosity=0, stdout=StringIO())
        yield
    finally:
        _switch_database(original)


# --- data ----------------------------------------------------------------------------------


def _generate(size: Size) -> None:
    """Customers, locations and EVSEs, sessions, documents and credit notes, session links."""
    operator, fixtures = _fixtures()
    with transaction.atomic():
        series = ensure_series(operator=operator)
        profile = profile_for(operator=operator, settings=operator.invoicing_settings)
        anonymous = Customer.objects.create(
            operator=operator, kind=Customer.Kind.ANONYMOUS, name="Anonymous"
        )
    now = timezone.now()
    today = timezone.localdate(now)
    first_day = _months_before(today, size.months)
    days = (today - first_day).days + 1
    start = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    credit_notes = size.documents // CREDITED_EVERY
    documents = size.documents - credit_notes
    session_batches = [
        (low, min(low + BATCH_ROWS - 1, size.sessions))
        for low in range(1, size.sessions + 1, BATCH_ROWS)
    ]
    steps = 6 + 2 * len(session_batches)
    with (
        tqdm(total=steps, desc="Generate", unit="step", file=sys.stderr) as bar,
        connection.cursor() as cursor,
    ):

        def step(label: str, statement: str, params: dict) -> int:
            bar.set_postfix_str(label)
            with transaction.atomic():
                cursor.execute(statement, params)
                rows = cursor.rowcount
            bar.update()
            return rows

        step(
            "customers",
            CUSTOMERS_SQL,
            {
                "operator": operator.pk,
                "customers": size.customers,
                "first_names": FIRST_NAMES,
                "n_first": len(FIRST_NAMES),
                "last_names": LAST_NAMES,
                "n_last": len(LAST_NAMES),
                "countries": RECIPIENT_COUNTRIES,
                "cities": list(CITIES.values()),
                "city_countries": list(CITIES),
            },
        )
        first_location = _next_id(cursor, "charging_location")
        step(
            "locations",
            LOCATIONS_SQL,
            {
                "operator": operator.pk,
                "locations": size.locations,
                "countries": [c for c, _city, _zone in SITES],
                "cities": [city for _c, city, _zone in SITES],
                "zones": [zone for _c, _city, zone in SITES],
                "quarters": ["Mitte", "Nord", "Süd", "Ost", "West", "Hbf", "Park", "Center"],
            },
        )
        step(
            "EVSEs",
            EVSES_SQL,
            {
                "operator": operator.pk,
                "per_location": EVSES_PER_LOCATION,
                "first_location": first_location,
            },
        )
        customers = list(
            Customer.objects.filter(operator=operator)
            .exclude(kind=Customer.Kind.ANONYMOUS)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        new_evses = EVSE.objects.filter(location_id__gte=first_location)
        evses = [*fixtures.ac_evses, *fixtures.dc_evses, *new_evses.values_list("pk", flat=True)]
        spacing = (now - start).total_seconds() / size.sessions
        first_session = _next_id(cursor, "charging_chargingsession")
        for low, high in session_batches:
            step(
                f"sessions {low:,} to {high:,}",
                SESSIONS_SQL,
                {
                    "operator": operator.pk,
                    "first": low,
                    "last": high,
                    "customers": customers,
                    "n_customers": len(customers),
                    "evses": evses,
                    "n_evses": len(evses),
                    "ac_tariff": fixtures.tariffs["AC"],
                    "dc_tariff": fixtures.tariffs["DC"],
                    "ac_snapshot": fixtures.snapshots["AC"],
                    "dc_snapshot": fixtures.snapshots["DC"],
                    "start": start,
                    "spacing": spacing,
                    "active_after": size.sessions - max(1, size.sessions // 50_000),
                },
            )
        first_document = _next_id(cursor, "invoicing_document")
        step(
            "documents",
            DOCUMENTS_SQL,
            {
                "operator": operator.pk,
                "profile": profile.pk,
                "anonymous": anonymous.pk,
                "customers": customers,
                "n_customers": len(customers),
                "documents": documents,
                "first_day": first_day,
                "days": days,
                "today": today,
                "numbered": 0,
                "credit_step": max(1, documents // max(1, credit_notes)),
                "credit_notes": credit_notes,
            },
        )
        step("credit notes", CREDIT_NOTES_SQL, {"operator": operator.pk, "today": today})
        cutoff = timezone.make_aware(datetime.combine(today.replace(day=1), datetime.min.time()))
        last_session = _next_id(cursor, "charging_chargingsession") - 1
        # Billing writes a document's session links while it is a draft; the guard trigger
        # refuses them on issued documents, so it sleeps while the links of the generated
        # (already issued) documents go in. The scratch database is ours.
        cursor.execute(GUARD_TRIGGER_SQL % "DISABLE")
        for index, (low, high) in enumerate(session_batches, start=1):
            step(
                f"session links {index}/{len(session_batches)}",
                BILLED_SESSIONS_SQL,
                {
                    "first_document": first_document,
                    "documents": documents,
                    "first_session": first_session,
                    "sessions": last_session - first_session + 1,
                    "low": first_session + low - 1,
                    "high": first_session + high - 1,
                    "cutoff": cutoff,
                    "unbilled_every": UNBILLED_EVERY,
                },
            )
        cursor.execute(GUARD_TRIGGER_SQL % "ENABLE")
        for one in series.values():
            last = Document.objects.filter(series=one).aggregate(last=Max("number"))["last"]
            NumberingSeries.objects.filter(pk=one.pk).update(next_number=(last or 0) + 1)
        bar.set_postfix_str("vacuum analyze")
        # Tables in use for months have been vacuumed and analysed; fresh rows would skew plans.
        for table in FILLED_TABLES:
            cursor.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        bar.update()


def _next_id(cursor, table: str) -> int:
    """The id the next row of a table gets (the generated rows' ids are consecutive)."""
    cursor.execute(sql.SQL("SELECT coalesce(max(id), 0) + 1 FROM {}").format(sql.Identifier(table)))
    return cursor.fetchone()[0]


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    return date(month_index // 12, month_index % 12 + 1, 1)
