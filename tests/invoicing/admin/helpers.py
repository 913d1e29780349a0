"""What the invoicing admin tests read and post: messages, change-form data, document URLs."""

from __future__ import annotations

from django.forms import CheckboxInput, FileField, MultipleChoiceField
from django.urls import reverse


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def change_form_data(response) -> dict:
    """What a browser submits for a change page as rendered: every form's current values."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(field, FileField):
                continue
            if isinstance(field.widget, CheckboxInput):
                if value:
                    data[key] = "on"
            elif value is None:
                if not isinstance(field, MultipleChoiceField):  # nothing ticked: nothing sent
                    data[key] = ""
            else:
                data[key] = list(value) if isinstance(value, list | tuple) else value
    return data


def document_url(document, action="change"):
    return reverse(f"admin:invoicing_document_{action}", args=[document.pk])


def run_url(run, action="change"):
    return reverse(f"admin:invoicing_billingrun_{action}", args=[run.pk])
