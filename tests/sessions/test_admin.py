"""The charging admin: OCPI tariff import/export, read-only sessions, re-pricing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoicing.documents.due import mark_sessions_due
from invoicing.models import TaxRule
from sessions.forms import TariffImportForm
from sessions.models import ChargingSession, Tariff
from sessions.services import (
    TariffImportError,
    dump_json,
    export_tariff,
    import_tariff,
    ingest_sessions,
    load_json,
    read_tariff,
)
from tests.factories import EVSEFactory, OperatorFactory

TARIFF_JSON = """{
  "country_code": "DE",
  "party_id": "CPO",
  "id": "DC-FAST",
  "currency": "EUR",
  "elements": [
    {"price_components": [{"type": "FLAT", "price": 1.00, "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": 0.2345, "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": 6.00, "step_size": 60}]}
  ],
  "last_updated": "2026-01-01T00:00:00Z"
}"""

ADD_URL = "admin:charging_tariff_add"


def tariff_data(**changes):
    data = load_json(TARIFF_JSON)
    data.update(changes)
    return data


def with_component(component):
    return tariff_data(elements=[{"price_components": [component]}])


def form_errors(response):
    return response.context["adminform"].form.errors


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


# --- tariff import -------------------------------------------------------------------------


def test_importing_a_tariff_through_the_add_form_stores_it(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": TARIFF_JSON}
    )

    assert response.status_code == 302
    tariff = Tariff.objects.get()
    assert (tariff.operator, tariff.ocpi_id, tariff.currency) == (operator, "DC-FAST", "EUR")
    assert export_tariff(tariff=tariff) == load_json(TARIFF_JSON)
    assert response.url == reverse("admin:charging_tariff_changelist")


def test_a_tariff_file_can_be_uploaded_instead_of_pasted(admin_client, operator):
    upload = SimpleUploadedFile("tariff.json", TARIFF_JSON.encode(), "application/json")

    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": "", "ocpi_file": upload}
    )

    assert response.status_code == 302
    assert Tariff.objects.get().ocpi_id == "DC-FAST"


def test_the_add_page_offers_one_json_box_and_a_file_upload(admin_client, operator):
    response = admin_client.get(reverse(ADD_URL))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.fields) == {"operator", "ocpi_json_text", "ocpi_file"}
    assert form.initial["operator"] == operator.pk  # the only operator is preselected
    assert 'enctype="multipart/form-data"' in response.text


def test_an_invalid_uploaded_tariff_is_reported_on_the_file_field(admin_client, operator):
    upload = SimpleUploadedFile("tariff.json", b'{"id": "X"}', "application/json")

    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": "", "ocpi_file": upload}
    )

    assert response.status_code == 200
    assert list(form_errors(response)) == ["ocpi_file"]
    assert not Tariff.objects.exists()


def test_invalid_json_is_a_form_error_and_stores_nothing(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": '{"id": "X",'}
    )

    assert response.status_code == 200
    (message,) = form_errors(response)["ocpi_json_text"]
    assert message.startswith("The tariff is not valid JSON:")
    assert not Tariff.objects.exists()


def test_an_empty_form_asks_for_the_json(admin_client, operator):
    response = admin_client.post(reverse(ADD_URL), {"operator": operator.pk})

    assert form_errors(response) == {
        "ocpi_json_text": ["Paste the OCPI tariff JSON or upload a file."]
    }


@pytest.mark.parametrize(
    ("component", "words"),
    [
        ({"type": "ENERGY", "price": 0.25, "step_size": -1}, "step_size"),
        ({"type": "KILOWATT", "price": 0.25, "step_size": 1}, "must be one of"),
        ({"type": "ENERGY", "price": -0.25, "step_size": 1}, "price"),
    ],
)
def test_an_invalid_tariff_shows_the_import_sentence_and_stores_nothing(
    admin_client, operator, component, words
):
    data = with_component(component)
    with pytest.raises(TariffImportError) as refused:
        import_tariff(operator=operator, data=data)

    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": dump_json(data)}
    )

    assert response.status_code == 200
    assert form_errors(response) == {"ocpi_json_text": [str(refused.value)]}
    assert words in str(refused.value)
    assert not Tariff.objects.exists()


def test_a_json_array_is_refused_with_the_import_sentence(admin_client, operator):
    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": "[]"}
    )

    assert form_errors(response) == {"ocpi_json_text": ["The tariff must be a JSON object."]}


@pytest.mark.django_db
def test_checking_a_tariff_form_stores_nothing_the_admin_imports_on_save(operator):
    form = TariffImportForm(data={"operator": operator.pk, "ocpi_json_text": TARIFF_JSON})

    assert form.is_valid()
    assert form.tariff_data == load_json(TARIFF_JSON)
    assert not Tariff.objects.exists()


def test_reading_a_tariff_checks_it_without_storing_and_names_the_field():
    assert read_tariff(TARIFF_JSON)["id"] == "DC-FAST"
    with pytest.raises(TariffImportError) as refused:
        read_tariff(dump_json(with_component({"type": "ENERGY", "price": 0.2, "step_size": -1})))
    ((field, _messages),) = refused.value.errors.items()
    assert field.startswith("elements[0].price_components[0].step_size")


def test_adding_a_tariff_id_that_exists_points_to_the_existing_tariff(admin_client, operator):
    import_tariff(operator=operator, data=TARIFF_JSON)

    response = admin_client.post(
        reverse(ADD_URL),
        {"operator": operator.pk, "ocpi_json_text": TARIFF_JSON.replace("0.2345", "0.99")},
    )

    assert response.status_code == 200
    assert "already has a tariff “DC-FAST”" in form_errors(response)["ocpi_json_text"][0]
    assert "0.2345" in Tariff.objects.get().ocpi_json


def test_the_same_tariff_id_may_exist_for_another_operator(admin_client, operator):
    import_tariff(operator=OperatorFactory(name="ChargeCo"), data=TARIFF_JSON)

    response = admin_client.post(
        reverse(ADD_URL), {"operator": operator.pk, "ocpi_json_text": TARIFF_JSON}
    )

    assert response.status_code == 302
    assert Tariff.objects.filter(ocpi_id="DC-FAST").count() == 2


def test_change_page_shows_pretty_json_with_read_only_id_and_currency(admin_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)

    response = admin_client.get(reverse("admin:charging_tariff_change", args=[tariff.pk]))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.fields) == {"ocpi_json_text", "ocpi_file"}
    text = form.initial["ocpi_json_text"]
    assert '\n  "id": "DC-FAST",' in text
    assert '"price": 0.2345' in text
    assert load_json(text) == load_json(TARIFF_JSON)


def test_saving_the_change_form_replaces_the_tariff_json(admin_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)
    url = reverse("admin:charging_tariff_change", args=[tariff.pk])

    response = admin_client.post(
        url, {"ocpi_json_text": TARIFF_JSON.replace('"EUR"', '"CHF"').replace("0.2345", "0.31")}
    )

    assert response.status_code == 302
    tariff.refresh_from_db()
    assert tariff.currency == "CHF"
    assert export_tariff(tariff=tariff)["elements"][1]["price_components"][0]["price"] == (
        Decimal("0.31")
    )
    assert Tariff.objects.count() == 1


def test_the_change_form_refuses_another_tariff_id(admin_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)
    url = reverse("admin:charging_tariff_change", args=[tariff.pk])

    response = admin_client.post(url, {"ocpi_json_text": TARIFF_JSON.replace("DC-FAST", "AC")})

    assert response.status_code == 200
    assert "Keep the ID to replace this tariff" in form_errors(response)["ocpi_json_text"][0]
    assert list(Tariff.objects.values_list("ocpi_id", flat=True)) == ["DC-FAST"]


def test_the_change_form_refuses_an_invalid_tariff_and_keeps_the_old_one(admin_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)
    url = reverse("admin:charging_tariff_change", args=[tariff.pk])

    response = admin_client.post(
        url, {"ocpi_json_text": TARIFF_JSON.replace('"step_size": 60', '"step_size": -60')}
    )

    assert response.status_code == 200
    assert "step_size" in form_errors(response)["ocpi_json_text"][0]
    tariff.refresh_from_db()
    assert export_tariff(tariff=tariff) == load_json(TARIFF_JSON)


# --- tariff export -------------------------------------------------------------------------


def test_export_action_downloads_the_selected_tariffs_with_exact_numbers(admin_client, operator):
    first = import_tariff(operator=operator, data=TARIFF_JSON)
    second = import_tariff(operator=operator, data=tariff_data(id="AC-SLOW"))

    response = admin_client.post(
        reverse("admin:charging_tariff_changelist"),
        {"action": "export_ocpi_json", "_selected_action": [first.pk, second.pk]},
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == 'attachment; filename="tariffs.json"'
    body = response.content.decode()
    assert "0.2345" in body
    assert "6.00" in body
    exported = load_json(body)
    assert [t["id"] for t in exported] == ["AC-SLOW", "DC-FAST"]
    assert exported[1] == load_json(TARIFF_JSON)
    assert exported[1]["elements"][1]["price_components"][0]["price"] == Decimal("0.2345")


def test_each_tariff_page_links_to_its_json_download(admin_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)
    export_url = reverse("admin:charging_tariff_export", args=[tariff.pk])

    page = admin_client.get(reverse("admin:charging_tariff_change", args=[tariff.pk]))
    assert export_url in page.text
    assert "Export OCPI JSON" in page.text

    response = admin_client.get(export_url)

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="tariff-DC-FAST.json"'
    assert '"price": 0.2345' in response.content.decode()
    assert load_json(response.content) == load_json(TARIFF_JSON)


def test_exporting_an_unknown_tariff_is_not_found(admin_client, operator):
    response = admin_client.get(reverse("admin:charging_tariff_export", args=[999999]))

    assert response.status_code == 404


def test_tariff_export_needs_a_staff_login(client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)

    response = client.get(reverse("admin:charging_tariff_export", args=[tariff.pk]))

    assert response.status_code == 302
    assert "/login/" in response.url


# --- sessions ------------------------------------------------------------------------------


def session_payload(evse, source_id, **changes):
    payload = {
        "source_id": source_id,
        "evse_id": evse.evse_id,
        "tariff_id": "DC-FAST",
        "start": "2026-03-01T10:00:00+00:00",
        "end": "2026-03-01T11:00:00+00:00",
        "energy_kwh": "10.5",
        "idle_minutes": 5,
    }
    payload.update(changes)
    return payload


@pytest.fixture
def evse(operator):
    return EVSEFactory(location__operator=operator)


@pytest.fixture
def priced_session(operator, evse):
    import_tariff(operator=operator, data=TARIFF_JSON)
    (outcome,) = ingest_sessions(
        operator=operator, source="test", payloads=[session_payload(evse, "S1")]
    )
    assert outcome.status == "created", outcome.errors
    return ChargingSession.objects.get(pk=outcome.session_id)


def ingest_many(operator, evse, count, start=0):
    outcomes = ingest_sessions(
        operator=operator,
        source="test",
        payloads=[session_payload(evse, f"S{start + n}") for n in range(count)],
    )
    assert all(outcome.status == "created" for outcome in outcomes)


def session_changelist(admin_client, query=""):
    response = admin_client.get(reverse("admin:charging_chargingsession_changelist") + query)
    assert response.status_code == 200
    return response


def test_session_changelist_uses_a_constant_number_of_queries(
    admin_client, operator, evse, django_assert_max_num_queries
):
    import_tariff(operator=operator, data=TARIFF_JSON)
    ingest_many(operator, evse, 2)
    with CaptureQueriesContext(connection) as few:
        session_changelist(admin_client)
    # 10, plus the page's charge lines, the tax rules (the "VAT vs tax rules" column) and the
    # operators' clock the admin reads on.
    assert len(few.captured_queries) <= 13

    ingest_many(operator, evse, 40, start=100)
    ingest_many(operator, EVSEFactory(location__operator=operator), 40, start=200)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = session_changelist(admin_client)

    assert len(response.context["cl"].result_list) == 82


def bill_on_a_sales_receipt(operator, session):
    """A walk-in session stored without a document gets its sales receipt once the operator
    always issues one and staff mark it due."""
    settings = operator.invoicing_settings
    settings.always_issue = True
    settings.save()
    issued = mark_sessions_due(operator=operator, session_ids=[session.pk])
    assert [d.session_count for d in issued] == [1]


def test_sessions_can_be_filtered_by_invoiced(admin_client, operator, evse):
    import_tariff(operator=operator, data=TARIFF_JSON)
    ingest_many(operator, evse, 3)
    bill_on_a_sales_receipt(operator, ChargingSession.objects.get(source_id="S0"))

    invoiced = session_changelist(admin_client, "?invoiced=yes").context["cl"].result_list
    open_ = session_changelist(admin_client, "?invoiced=no").context["cl"].result_list

    assert [s.source_id for s in invoiced] == ["S0"]
    assert sorted(s.source_id for s in open_) == ["S1", "S2"]


def test_session_change_page_shows_the_breakdown_and_readable_units(admin_client, priced_session):
    response = admin_client.get(
        reverse("admin:charging_chargingsession_change", args=[priced_session.pk])
    )

    assert response.status_code == 200
    text = response.text
    assert text.count('<td class="field-component">') == 3
    for component in ("Connection fee", "Energy", "Idle (parking) time"):
        assert f"<p>{component}</p>" in text
    assert '<div class="readonly">10.500 kWh</div>' in text
    assert '<div class="readonly">0:55</div>' in text  # charging time: 60 minutes minus 5 idle
    assert '<div class="readonly">0:05</div>' in text  # idle time


def test_session_change_page_is_read_only(admin_client, priced_session):
    url = reverse("admin:charging_chargingsession_change", args=[priced_session.pk])

    page = admin_client.get(url)
    assert 'name="raw_payload"' not in page.text
    assert 'name="energy_kwh"' not in page.text
    assert 'name="_save"' not in page.text

    response = admin_client.post(url, {"energy_kwh": "99", "raw_payload": "{}"})

    assert response.status_code == 403
    priced_session.refresh_from_db()
    assert priced_session.energy_kwh == Decimal("10.500")


def test_sessions_cannot_be_added_in_the_admin(admin_client, operator):
    response = admin_client.get(reverse("admin:charging_chargingsession_add"))

    assert response.status_code == 403


def reprice(admin_client, *sessions):
    return admin_client.post(
        reverse("admin:charging_chargingsession_changelist"),
        {"action": "reprice", "_selected_action": [s.pk for s in sessions]},
        follow=True,
    )


def test_reprice_action_prices_a_completed_session_again(admin_client, operator, priced_session):
    # 1.00 connection fee + 10.5 kWh x 0.2345 + 5 idle minutes x 6.00/h; 19 % of 3.96 net
    assert (priced_session.total_net, priced_session.total_vat) == (
        Decimal("3.96"),
        Decimal("0.75"),
    )
    # The German rate changes to 7 % (a new tax rule in force on the day the session ended).
    for category in ("electricity", "services"):
        TaxRule.objects.create(
            country="DE",
            category=category,
            valid_from=priced_session.ended_at.date() - timedelta(days=1),
            rate=Decimal("7.00"),
        )

    response = reprice(admin_client, priced_session)

    assert messages_of(response) == ["Re-priced 1 session."]
    priced_session.refresh_from_db()
    assert priced_session.total_net == Decimal("3.96")
    assert priced_session.total_vat == Decimal("0.28")  # 7 % of 3.96 = 0.2772
    assert set(priced_session.charge_lines.values_list("vat_rate", flat=True)) == {Decimal("7")}


def test_reprice_action_refuses_an_invoiced_session_with_the_reason(
    admin_client, operator, evse, priced_session
):
    (outcome,) = ingest_sessions(
        operator=operator, source="test", payloads=[session_payload(evse, "S2")]
    )
    completed = ChargingSession.objects.get(pk=outcome.session_id)
    bill_on_a_sales_receipt(operator, priced_session)
    priced_at = ChargingSession.objects.get(pk=priced_session.pk).priced_at

    response = reprice(admin_client, priced_session, completed)

    assert messages_of(response) == [
        "Re-priced 1 session.",
        "Refused 1 session (test:S1): An invoiced session keeps its price; correct it with a "
        "credit note.",
    ]
    assert ChargingSession.objects.get(pk=priced_session.pk).priced_at == priced_at


@pytest.fixture
def viewer_client(client, django_user_model):
    """A staff member who may look at tariffs and sessions but change nothing."""
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="charging",
            codename__in=["view_tariff", "view_chargingsession"],
        )
    )
    client.force_login(user)
    return client


def test_view_only_staff_see_the_tariff_json_and_may_export_it(viewer_client, operator):
    tariff = import_tariff(operator=operator, data=TARIFF_JSON)

    page = viewer_client.get(reverse("admin:charging_tariff_change", args=[tariff.pk]))
    download = viewer_client.get(reverse("admin:charging_tariff_export", args=[tariff.pk]))

    assert page.status_code == 200
    assert "&quot;price&quot;: 0.2345" in page.text
    assert 'name="ocpi_json_text"' not in page.text
    assert download.status_code == 200
    assert load_json(download.content) == load_json(TARIFF_JSON)


def test_view_only_staff_cannot_reprice_sessions(viewer_client, priced_session):
    response = viewer_client.get(reverse("admin:charging_chargingsession_changelist"))

    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action this user may run
    refused = viewer_client.post(
        reverse("admin:charging_chargingsession_changelist"),
        {"action": "reprice", "_selected_action": [priced_session.pk]},
        follow=True,
    )
    assert messages_of(refused) == []
    assert ChargingSession.objects.get(pk=priced_session.pk).priced_at == priced_session.priced_at
