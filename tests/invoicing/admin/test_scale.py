"""The document list at a million rows: index-friendly filters and search, a constant number
of queries per page, and counts that are exact only when cheap (invoicing/admin_lists.py)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cpo_portal.kernel.admin.lists import (
    EstimatedCountPaginator,
    count_within,
    distinct_values,
    planner_estimate,
)
from customers.models import Customer
from invoicing.models import Document, DocumentKind
from tests.conftest import on_postgresql
from tests.factories import CompanyCustomerFactory, CustomerFactory
from tests.invoicing.helpers import issue_invoice_for

pytestmark = pytest.mark.django_db

LIST_URL = "admin:invoicing_document_changelist"


@pytest.fixture
def invoice(operator):
    customer = CustomerFactory(
        operator=operator,
        requires_invoice=True,
        billing_mode="per_session",
        email="Ann@Example.org",
        # Fixed: a generated name beginning with the letters a test searches for would match.
        name="Ann Weber",
    )
    return issue_invoice_for(customer)


def copies(document: Document, count: int, **changes) -> list[Document]:
    """Issued copies of a document with the following numbers of its series (bulk inserted)."""
    last = Document.objects.filter(series=document.series).order_by("-number").first().number
    rows = []
    for n in range(1, count + 1):
        row = Document(
            **{
                field.attname: getattr(document, field.attname)
                for field in Document._meta.concrete_fields
                if not field.primary_key
            }
        )
        row.number = last + n
        row.display_number = document.series.format(row.number)
        for name, value in changes.items():
            setattr(row, name, value(n) if callable(value) else value)
        rows.append(row)
    return Document.objects.bulk_create(rows)


def listed(admin_client, **params) -> list[Document]:
    response = admin_client.get(reverse(LIST_URL), params)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- filters -------------------------------------------------------------------------------


def test_the_issue_date_range_includes_both_days(admin_client, invoice):
    copies(
        invoice,
        5,
        issue_date=lambda n: date(2026, 1, 10 + n),  # the 11th to the 15th
        due_date=date(2026, 2, 1),
    )

    shown = listed(admin_client, issue_date__gte="2026-01-11", issue_date__lte="2026-01-13")
    from_only = listed(admin_client, issue_date__gte="2026-01-14")
    to_only = listed(admin_client, issue_date__lte="2026-01-11")

    assert sorted(d.issue_date.day for d in shown) == [11, 12, 13]
    assert {d.issue_date for d in from_only} == {date(2026, 1, 14), date(2026, 1, 15)} | {
        invoice.issue_date
    }
    assert [d.issue_date for d in to_only] == [date(2026, 1, 11)]
    # A link of Django's own date filter (from a bookmark or an export job) still works.
    old_link = listed(admin_client, issue_date__gte="2026-01-13", issue_date__lt="2026-01-15")
    assert sorted(d.issue_date.day for d in old_link) == [13, 14]


def test_an_invalid_date_in_the_range_is_refused_not_a_server_error(admin_client, invoice):
    response = admin_client.get(reverse(LIST_URL), {"issue_date__gte": "10/01/2026"})

    assert response.status_code == 302
    assert response.url.endswith("?e=1")


def test_the_date_range_filter_shows_two_date_inputs_keeping_the_other_filters(
    admin_client, invoice
):
    response = admin_client.get(
        reverse(LIST_URL), {"status__exact": "issued", "issue_date__lte": "2026-02-01"}
    )

    text = response.text
    assert '<input type="date" name="issue_date__gte" value="">' in text
    assert '<input type="date" name="issue_date__lte" value="2026-02-01">' in text
    assert '<input type="hidden" name="status__exact" value="issued">' in text
    assert "Last month" in text


def test_documents_are_filtered_by_customer_kind(admin_client, operator, invoice):
    company = CompanyCustomerFactory(operator=operator)
    (fleet,) = copies(invoice, 1, customer_id=company.pk)

    companies = listed(admin_client, customer_kind=Customer.Kind.COMPANY)
    individuals = listed(admin_client, customer_kind=Customer.Kind.INDIVIDUAL)

    assert companies == [fleet]
    assert individuals == [invoice]


def test_the_country_filter_offers_the_recipient_countries_found(admin_client, invoice):
    copies(invoice, 2, recipient_country="AT")
    copies(invoice, 1, recipient_country="")

    response = admin_client.get(reverse(LIST_URL), {"recipient_country": "AT"})

    (spec,) = [s for s in response.context["cl"].filter_specs if s.title == "recipient country"]
    assert [code for code, _label in spec.lookup_choices] == ["", "AT", "DE"]
    assert {d.recipient_country for d in response.context["cl"].result_list} == {"AT"}
    assert len(listed(admin_client, recipient_country="")) == 1


def test_distinct_values_lists_each_value_once_in_order(invoice):
    copies(invoice, 3, recipient_country=lambda n: ["PL", "AT", "PL"][n - 1])

    assert distinct_values(Document, "recipient_country") == ["AT", "DE", "PL"]
    assert distinct_values(Document, "recipient_country", limit=2) == ["AT", "DE"]


# --- search --------------------------------------------------------------------------------


def test_documents_are_found_by_the_beginning_of_their_number_in_any_case(admin_client, invoice):
    number = invoice.display_number  # e.g. INV-000001
    (other,) = copies(invoice, 1)

    assert set(listed(admin_client, q=number)) == {invoice}
    assert set(listed(admin_client, q=number[:-1].lower())) == {invoice, other}
    assert listed(admin_client, q=number[2:]) == []  # the middle of a number is not searched


def test_documents_are_found_by_recipient_name_email_and_vat_id(admin_client, operator, invoice):
    company = CompanyCustomerFactory(
        operator=operator, name="Jo Lind", company_name="Fleet Hamburg GmbH"
    )
    (fleet,) = copies(
        invoice,
        1,
        customer_id=company.pk,
        recipient_name="Fleet Hamburg GmbH",
        recipient_email="fleet@hamburg.example",
        recipient_vat_id="DE136695976",
    )

    assert listed(admin_client, q="fleet ham") == [fleet]  # the name's beginning, any case
    assert listed(admin_client, q="ann@example.ORG") == [invoice]  # the whole e-mail
    assert listed(admin_client, q="ann@") == [invoice]  # or its beginning
    assert listed(admin_client, q="de 136 695 976") == [fleet]  # VAT ID as people type it
    assert listed(admin_client, q="hamb") == [fleet]  # any part of the name, any case
    assert listed(admin_client, q="Ha") == []  # under three letters: only a name's beginning


def test_a_surname_finds_the_customer_and_their_documents(admin_client, operator, invoice):
    driver = CustomerFactory(operator=operator, name="Eleni Papadopoulou")
    (hers,) = copies(invoice, 1, customer_id=driver.pk, recipient_name="Eleni Papadopoulou")

    customers = admin_client.get(reverse("admin:customers_customer_changelist"), {"q": "padop"})

    assert list(customers.context["cl"].result_list) == [driver]
    assert listed(admin_client, q="PAPADOP") == [hers]
    link = f"{reverse(LIST_URL)}?customer__id__exact={driver.pk}"
    assert f'href="{link}"' in customers.text
    assert list(admin_client.get(link).context["cl"].result_list) == [hers]


@pytest.mark.postgres
def test_on_postgresql_a_search_inside_names_is_a_trigram_index_scan(invoice):
    searches = {
        "document_name_trigram": Document.objects.search("padop").order_by(),
        "customer_name_trigram": Customer.objects.filter(name__icontains="padop").order_by(),
    }
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # few rows: as the planner would at scale
        for index, queryset in searches.items():
            assert index in queryset.explain(), f"{index} not used"


# --- queries per page ----------------------------------------------------------------------


def test_the_document_list_runs_the_same_queries_for_20_or_200_documents(
    admin_client, operator, invoice, django_assert_num_queries
):
    copies(invoice, 19)
    params = {"status__exact": "issued", "issue_date__gte": "2000-01-01", "q": "INV"}
    with CaptureQueriesContext(connection) as small:
        assert len(listed(admin_client, **params)) == 20
    with CaptureQueriesContext(connection) as small_plain:
        admin_client.get(reverse(LIST_URL))

    copies(invoice, 180)
    with django_assert_num_queries(len(small.captured_queries)):
        response = admin_client.get(reverse(LIST_URL), params)
    with django_assert_num_queries(len(small_plain.captured_queries)):
        admin_client.get(reverse(LIST_URL), {"p": "2"})

    assert len(response.context["cl"].result_list) == 100  # a page
    assert response.context["cl"].result_count == 200
    assert "PDF" in response.text  # the PDF column (DocumentOutputsAdminMixin) costs no query


def test_no_query_of_the_list_is_a_distinct_over_documents(admin_client, invoice):
    with CaptureQueriesContext(connection) as page:
        admin_client.get(reverse(LIST_URL))

    assert not [q["sql"] for q in page.captured_queries if "DISTINCT" in q["sql"].upper()]


# --- counting ------------------------------------------------------------------------------


def test_small_lists_are_counted_exactly_on_every_database(invoice):
    copies(invoice, 4)
    paginator = EstimatedCountPaginator(Document.objects.order_by("-id"), 2)

    assert paginator.count == 5
    assert not paginator.count_is_estimate
    assert paginator.num_pages == 3


@pytest.mark.skipif(on_postgresql(), reason="SQLite's fallback")
def test_on_sqlite_the_paginator_counts_without_asking_a_planner(invoice):
    paginator = EstimatedCountPaginator(Document.objects.order_by("-id"), 2)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 1

    assert [q["sql"] for q in queries.captured_queries if "EXPLAIN" in q["sql"]] == []
    assert not paginator.count_is_estimate


@pytest.mark.postgres
def test_on_postgresql_a_large_list_shows_the_planners_estimate(admin_client, invoice, monkeypatch):
    copies(invoice, 299)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invoicing_document")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 50)

    first = admin_client.get(reverse(LIST_URL))
    last = admin_client.get(reverse(LIST_URL), {"p": "3"})

    cl = first.context["cl"]
    assert cl.paginator.count_is_estimate
    assert 200 <= cl.result_count <= 400
    assert f"about {cl.result_count} documents" in " ".join(first.text.split())
    assert last.status_code == 200 and last.context["cl"].result_list
    rows, cost = planner_estimate(Document.objects.filter(kind=DocumentKind.CREDIT_NOTE))
    assert rows < 50 and cost > 0


@pytest.mark.postgres
def test_on_postgresql_a_count_the_planner_calls_costly_is_not_even_tried(invoice, monkeypatch):
    copies(invoice, 299)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invoicing_document")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_cost_up_to", 1)
    paginator = EstimatedCountPaginator(Document.objects.order_by("-id"), 100)

    with CaptureQueriesContext(connection) as queries:
        count = paginator.count

    assert paginator.count_is_estimate and 200 <= count <= 400
    assert [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()] == []


@pytest.mark.postgres
def test_on_postgresql_a_count_that_runs_out_of_time_becomes_an_estimate(invoice):
    copies(invoice, 9)
    sleeps = RawSQL("(SELECT true FROM pg_sleep(0.02))", [], output_field=BooleanField())
    slow = Document.objects.filter(sleeps).order_by("-id")

    assert count_within(slow, timeout_ms=5) is None
    paginator = EstimatedCountPaginator(slow, 5)
    paginator.count_timeout_ms = 5
    assert paginator.count > paginator.per_page and paginator.count_is_estimate  # paged
    with connection.cursor() as cursor:  # the time limit was the count's alone
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    assert count_within(Document.objects.all(), timeout_ms=1000) == 10
