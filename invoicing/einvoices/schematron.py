"""Schematron (ISO, query binding XSLT 2) compiled to XSLT 3 for Saxon, and reports read back.

KoSIT publishes the XRechnung rules as source Schematron; this compiles the subset they use
(ns, let, xsl:function, phase, include, pattern, rule, assert, report, name, value-of) the way
the ISO skeleton and SchXslt do: one mode per pattern, in each mode the first matching rule of
the pattern fires for a node, and every failed assert or successful report becomes an SVRL
`failed-assert` / `successful-report` with its id, flag and location.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

SCH = "http://purl.oclc.org/dsdl/schematron"
XSL = "http://www.w3.org/1999/XSL/Transform"
SVRL = "http://purl.oclc.org/dsdl/svrl"


class SchematronError(Exception):
    """The rules file could not be read or compiled; the message names the file."""


def _q(tag: str) -> str:
    return f"{{{SCH}}}{tag}"


def _inline(schema: etree._Element, base: Path) -> None:
    """Replace every sch:include by the element it points at (relative to its file)."""
    for include in schema.iter(_q("include")):
        target = (base / include.get("href")).resolve()
        try:
            included = etree.parse(str(target)).getroot()
        except (OSError, etree.XMLSyntaxError) as exc:
            raise SchematronError(f"Cannot read {target}: {exc}") from exc
        _inline(included, target.parent)
        include.getparent().replace(include, included)


def _message(source: etree._Element, target: etree._Element) -> None:
    """Copy an assert's text into the report, turning name/value-of into xsl:value-of."""
    text = etree.SubElement(target, f"{{{SVRL}}}text")
    xsl_text = etree.SubElement(text, f"{{{XSL}}}text")
    xsl_text.text = source.text or ""
    for child in source:
        if child.tag == _q("value-of"):
            etree.SubElement(text, f"{{{XSL}}}value-of", select=child.get("select"))
        elif child.tag == _q("name"):
            etree.SubElement(text, f"{{{XSL}}}value-of", select=f"name({child.get('path', '.')})")
        tail = etree.SubElement(text, f"{{{XSL}}}text")
        tail.text = child.tail or ""


def _variable(parent: etree._Element, let: etree._Element) -> None:
    etree.SubElement(parent, f"{{{XSL}}}variable", name=let.get("name"), select=let.get("value"))


def compile_schematron(path: Path, *, phase: str | None = None) -> str:
    """The XSLT 3 text that validates a document against the Schematron file at `path`."""
    try:
        schema = etree.parse(str(path)).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchematronError(f"Cannot read {path}: {exc}") from exc
    _inline(schema, path.parent)
    namespaces = {"xsl": XSL, "svrl": SVRL, "xs": "http://www.w3.org/2001/XMLSchema"}
    for ns in schema.iter(_q("ns")):
        namespaces[ns.get("prefix")] = ns.get("uri")
    for prefix, uri in schema.nsmap.items():
        if prefix and prefix not in namespaces and uri not in (SCH,):
            namespaces[prefix] = uri
    stylesheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap=namespaces, version="3.0")
    stylesheet.set("exclude-result-prefixes", " ".join(p for p in namespaces if p != "svrl"))
    etree.SubElement(stylesheet, f"{{{XSL}}}output", method="xml", indent="no")
    for function in schema.iter(f"{{{XSL}}}function"):
        stylesheet.append(function.__copy__())
    active = None
    if phase:
        (phase_element,) = [p for p in schema.iter(_q("phase")) if p.get("id") == phase]
        active = [a.get("pattern") for a in phase_element.iter(_q("active"))]
    for let in schema.findall(_q("let")):
        _variable(stylesheet, let)
    patterns = [p for p in schema.iter(_q("pattern")) if active is None or p.get("id") in active]
    # Pattern-level lets are global variables (what the ISO skeleton does).
    for pattern in patterns:
        for let in pattern.findall(_q("let")):
            _variable(stylesheet, let)
    root = etree.SubElement(stylesheet, f"{{{XSL}}}template", match="/")
    output = etree.SubElement(root, f"{{{SVRL}}}schematron-output")
    for index, pattern in enumerate(patterns):
        mode = f"p{index}"
        fired = etree.SubElement(output, f"{{{SVRL}}}active-pattern")
        fired.set("id", pattern.get("id") or mode)
        etree.SubElement(output, f"{{{XSL}}}apply-templates", select="/", mode=mode)
        etree.SubElement(stylesheet, f"{{{XSL}}}mode", name=mode, **{"on-no-match": "shallow-skip"})
        rules = pattern.findall(_q("rule"))
        for position, rule in enumerate(rules):
            template = etree.SubElement(
                stylesheet,
                f"{{{XSL}}}template",
                match=rule.get("context"),
                mode=mode,
                priority=str(len(rules) - position + 1000),
            )
            for let in rule.findall(_q("let")):
                _variable(template, let)
            for check in rule:
                if check.tag not in (_q("assert"), _q("report")):
                    continue
                is_assert = check.tag == _q("assert")
                test = check.get("test")
                condition = etree.SubElement(
                    template, f"{{{XSL}}}if", test=f"not({test})" if is_assert else test
                )
                result = etree.SubElement(
                    condition,
                    f"{{{SVRL}}}failed-assert" if is_assert else f"{{{SVRL}}}successful-report",
                )
                result.set("id", check.get("id") or "")
                result.set("flag", check.get("flag") or "error")
                result.set("test", test)
                location = etree.SubElement(result, f"{{{XSL}}}attribute", name="location")
                etree.SubElement(location, f"{{{XSL}}}value-of", select="path()")
                _message(check, result)
            etree.SubElement(template, f"{{{XSL}}}apply-templates", select="@*|node()", mode=mode)
    return etree.tostring(stylesheet, encoding="unicode")
