"""The tax decision: which rate and treatment a line gets, from the place of supply and customer.

Charging is taxed where the charge point is; the rule in force on the local date the session
ended applies. Where no rule exists for a country, the operator's own rates are the fallback.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError

from cpo_portal.kernel.tenancy import Operator
from customers.models import Customer
from invoicing.setup.models import InvoicingSettings
from invoicing.tax.models import TaxRule, TaxTreatment, VatRegistration

NO_RATE = Decimal("0.00")
INDIVIDUAL = "individual"
BUSINESS_DOMESTIC = "business_domestic"
BUSINESS_FOREIGN = "business_foreign"
# stdnum and VIES spell Greece EL; ISO 3166 says GR.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}


@dataclass(frozen=True, slots=True)
class TaxDecision:
    """The VAT rate a line carries and the text the document prints for it ('' for none)."""

    rate: Decimal
    treatment: str
    note: str


class TaxTable:
    """Every rule, loaded once, looked up by country, category and date."""

    def __init__(self, rules: Iterable[TaxRule]):
        self._rules: dict[tuple[str, str], list[TaxRule]] = {}
        for rule in sorted(rules, key=lambda r: r.valid_from):
            self._rules.setdefault((rule.country.upper(), rule.category), []).append(rule)
        self._dates = {key: [r.valid_from for r in rules] for key, rules in self._rules.items()}

    def rule(self, country: str, category: str, on: date) -> TaxRule | None:
        """The rule in force on that date, or None when the country has none (yet)."""
        key = ((country or "").upper(), category)
        index = bisect.bisect_right(self._dates.get(key, []), on)
        return self._rules[key][index - 1] if index else None


def load_table() -> TaxTable:
    return TaxTable(TaxRule.objects.all())


def vat_id_country(vat_id: str) -> str | None:
    """The country of a valid EU VAT ID (GR for EL), None when it is not a valid one."""
    try:
        compact = eu_vat.validate(vat_id)
    except StdnumValidationError:
        return None
    prefix = compact[:2].upper()
    return _VAT_PREFIX_COUNTRY.get(prefix, prefix)


def customer_position(customer: Customer, country: str) -> str:
    """Individual, or a business with a valid VAT ID of the supply's country or another one."""
    if customer.kind != Customer.Kind.COMPANY or not customer.vat_id:
        return INDIVIDUAL
    vat_country = vat_id_country(customer.vat_id)
    if vat_country is None:
        return INDIVIDUAL
    return BUSINESS_DOMESTIC if vat_country == (country or "").upper() else BUSINESS_FOREIGN


def decide(
    table: TaxTable,
    *,
    country: str,
    category: str,
    on: date,
    customer: Customer,
    settings: InvoicingSettings,
) -> TaxDecision:
    """The rate and printed text for one line of a supply in `country` ending on `on`."""
    rule = table.rule(country, category, on)
    if rule is None:
        fallback = (
            settings.electricity_vat_rate
            if category == "electricity"
            else settings.services_vat_rate
        )
        return TaxDecision(Decimal(fallback), TaxTreatment.CHARGE, "")
    position = customer_position(customer, country)
    treatment = getattr(rule, position)
    text = getattr(rule, f"{position}_text").strip()
    if treatment != TaxTreatment.CHARGE:
        return TaxDecision(NO_RATE, treatment, text)
    if rule.rate == 0:
        return TaxDecision(NO_RATE, treatment, rule.rate_reason.strip() or text)
    return TaxDecision(rule.rate, treatment, text)


def vat_registrations(operator: Operator) -> dict[str, str]:
    """The operator's VAT IDs by country, read once for a batch of documents."""
    return dict(VatRegistration.objects.filter(operator=operator).values_list("country", "vat_id"))


def supplier_vat_id(
    *,
    operator: Operator,
    countries: Iterable[str],
    registrations: Mapping[str, str] | None = None,
) -> str:
    """The VAT ID to print: the operator's registration in the supply's country when it has
    one; a document billing several countries lists each country's registration."""
    wanted = sorted({c.upper() for c in countries if c})
    if registrations is None:
        registrations = vat_registrations(operator)
    if len(wanted) == 1:
        return registrations.get(wanted[0], operator.vat_id)
    ids = [f"{country}: {registrations[country]}" for country in wanted if country in registrations]
    if not ids:
        return operator.vat_id
    if any(country not in registrations for country in wanted) and operator.vat_id:
        ids.insert(0, operator.vat_id)
    return ", ".join(ids)


def vat_disagreements(
    table: TaxTable, *, country: str, ended_on: date | None, lines: Iterable
) -> list[str]:
    """Where a session's priced VAT (the tariff's own, or the operator's fallback) differs from
    the rule for its charge point: what the admin flags. Documents follow the rule."""
    if ended_on is None:
        return []
    found = []
    for line in lines:
        category = "electricity" if line.vat_category == "electricity" else "services"
        rule = table.rule(country, category, ended_on)
        if rule is not None and rule.rate != line.vat_rate:
            text = f"{category} {_rate(line.vat_rate)} % ≠ {country} {_rate(rule.rate)} %"
            if text not in found:
                found.append(text)
    return found


def place_rates_lookup():
    """The kernel's place-rates hook: electricity and services rates for a place and day."""
    table = load_table()

    def rates(country: str, on: date) -> tuple[Decimal, Decimal] | None:
        electricity = table.rule(country, "electricity", on)
        services = table.rule(country, "services", on)
        if electricity is None or services is None:
            return None
        return electricity.rate, services.rate

    return rates


def _rate(rate: Decimal) -> str:
    return f"{Decimal(rate).normalize():f}"
