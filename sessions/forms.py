"""Back-office form for tariffs: one OCPI 2.2.1 JSON document, imported by the tariff service."""

from __future__ import annotations

from typing import Any

import simplejson
from django import forms
from django.utils.translation import gettext_lazy as _

from cpo_portal.kernel.tenancy import Operator
from sessions.models import Tariff
from sessions.services import TariffImportError, export_tariff, load_json, read_tariff

MAX_TARIFF_FILE_BYTES = 1024 * 1024


def pretty_json(data: Any) -> str:
    """JSON indented for reading, with every number exactly as stored."""
    return simplejson.dumps(data, use_decimal=True, ensure_ascii=False, indent=2)


class TariffImportForm(forms.ModelForm):
    """Checks the JSON with ``read_tariff`` (its errors become field errors); the admin saves it
    with ``import_tariff``. ``tariff_data`` and ``operator`` are what a valid form imports."""

    ocpi_json_text = forms.CharField(
        label=_("OCPI JSON"),
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 30, "cols": 100, "spellcheck": "false", "class": "vLargeTextField"}
        ),
        help_text=_(
            "The tariff as an OCPI 2.2.1 Tariff object (id, currency, elements with price "
            "components). The tariff ID and currency are taken from it. Sessions already "
            "priced keep the tariff they were priced with."
        ),
    )
    ocpi_file = forms.FileField(
        label=_("…or upload a JSON file"),
        required=False,
        help_text=_("If you choose a file, its content is imported instead of the text above."),
    )

    class Meta:
        model = Tariff
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["ocpi_json_text"] = pretty_json(export_tariff(tariff=self.instance))
        operator_field = self.fields.get("operator")
        if operator_field is not None and not self.is_bound:
            operators = list(Operator.objects.order_by("id")[:2])
            if len(operators) == 1:
                self.initial.setdefault("operator", operators[0].pk)

    def clean_ocpi_file(self):
        upload = self.cleaned_data.get("ocpi_file")
        if not upload:
            return None
        if upload.size > MAX_TARIFF_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB; a tariff is smaller."))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(_("The file is not UTF-8 encoded JSON.")) from exc

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:
            return cleaned_data
        field = "ocpi_file" if cleaned_data.get("ocpi_file") else "ocpi_json_text"
        text = cleaned_data.get(field) or ""
        if not text:
            self.add_error("ocpi_json_text", _("Paste the OCPI tariff JSON or upload a file."))
            return cleaned_data
        operator = cleaned_data.get("operator") or getattr(self.instance, "operator", None)

        message = self._id_conflict(operator, text)
        if message:
            self.add_error(field, message)
            return cleaned_data
        try:
            self.tariff_data = read_tariff(text)
        except TariffImportError as exc:
            self.add_error(field, str(exc))
        self.operator = operator
        return cleaned_data

    def _id_conflict(self, operator: Operator, text: str) -> str:
        """Add creates a tariff and change replaces this one; neither silently hits another."""
        try:
            data = load_json(text)
        except ValueError:
            return ""  # import_tariff words the JSON error
        tariff_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(tariff_id, str):
            return ""
        if self.instance.pk:
            if tariff_id != self.instance.ocpi_id:
                return _(
                    "The tariff ID in the JSON is “%(new)s” but this tariff is “%(old)s”. Keep "
                    "the ID to replace this tariff, or add a new tariff for another ID."
                ) % {"new": tariff_id, "old": self.instance.ocpi_id}
        elif Tariff.objects.filter(operator=operator, ocpi_id=tariff_id).exists():
            return _(
                "%(operator)s already has a tariff “%(id)s”. Open that tariff to replace its JSON."
            ) % {"operator": operator, "id": tariff_id}
        return ""
