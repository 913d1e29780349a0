"""DATEV's EXTF file format: the header record, the column layouts and how values are written.

Source: DATEV's format description, "DATEV-Format" on developer.datev.de
(https://developer.datev.de/datev/platform/de/dtvf, pages "Header", "Buchungsstapel" and
"Debitoren/Kreditoren"): header version 700; category 21 "Buchungsstapel" in format version 13
(125 columns) and category 16 "Debitoren/Kreditoren" in format version 5 (254 columns); fields
separated by ';', text fields in double quotes (a quote inside doubled), no line breaks inside
a field, decimal comma without thousands separators, CRLF after every line, Windows-1252. The
file name starts with EXTF_. The column names below are DATEV's, in DATEV's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from cpo_portal.kernel.money import round_money

ENCODING = "cp1252"
SEPARATOR = ";"
LINE_END = "\r\n"
HEADER_VERSION = 700
BOOKING_CATEGORY, BOOKING_FORMAT, BOOKING_VERSION = 21, "Buchungsstapel", 13
DEBTOR_CATEGORY, DEBTOR_FORMAT, DEBTOR_VERSION = 16, "Debitoren/Kreditoren", 5
# The header's "Herkunft" (origin): two letters naming the program that wrote the file.
ORIGIN = "RE"
# Field lengths of the booking batch that this export fills with free text.
BELEGFELD_1_LENGTH = 36
BELEGFELD_REFUSED = re.compile(r"[^A-Za-z0-9$&%*+\-/]")
BUCHUNGSTEXT_LENGTH = 60
BELEGINFO_LENGTH = 210


def _columns(row: str) -> tuple[str, ...]:
    """Column names written as DATEV's column row: in its order and spelling, ';' between."""
    return tuple(row.split(";"))


BOOKING_COLUMNS = _columns(
    "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;"
    "WKZ Basis-Umsatz;Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;"
    "Belegfeld 1;Belegfeld 2;Skonto;Buchungstext;Postensperre;Diverse Adressnummer;"
    "Geschäftspartnerbank;Sachverhalt;Zinssperre;Beleglink;Beleginfo - Art 1;"
    "Beleginfo - Inhalt 1;Beleginfo - Art 2;Beleginfo - Inhalt 2;Beleginfo - Art 3;"
    "Beleginfo - Inhalt 3;Beleginfo - Art 4;Beleginfo - Inhalt 4;Beleginfo - Art 5;"
    "Beleginfo - Inhalt 5;Beleginfo - Art 6;Beleginfo - Inhalt 6;Beleginfo - Art 7;"
    "Beleginfo - Inhalt 7;Beleginfo - Art 8;Beleginfo - Inhalt 8;KOST1 - Kostenstelle;"
    "KOST2 - Kostenstelle;Kost-Menge;EU-Land u. UStID (Bestimmung);"
    "EU-Steuersatz (Bestimmung);Abw. Versteuerungsart;Sachverhalt L+L;"
    "Funktionsergänzung L+L;BU 49 Hauptfunktionstyp;BU 49 Hauptfunktionsnummer;"
    "BU 49 Funktionsergänzung;Zusatzinformation - Art 1;Zusatzinformation - Inhalt 1;"
    "Zusatzinformation - Art 2;Zusatzinformation - Inhalt 2;Zusatzinformation - Art 3;"
    "Zusatzinformation - Inhalt 3;Zusatzinformation - Art 4;Zusatzinformation - Inhalt 4;"
    "Zusatzinformation - Art 5;Zusatzinformation - Inhalt 5;Zusatzinformation - Art 6;"
    "Zusatzinformation - Inhalt 6;Zusatzinformation - Art 7;Zusatzinformation - Inhalt 7;"
    "Zusatzinformation - Art 8;Zusatzinformation - Inhalt 8;Zusatzinformation - Art 9;"
    "Zusatzinformation - Inhalt 9;Zusatzinformation - Art 10;"
    "Zusatzinformation - Inhalt 10;Zusatzinformation - Art 11;"
    "Zusatzinformation - Inhalt 11;Zusatzinformation - Art 12;"
    "Zusatzinformation - Inhalt 12;Zusatzinformation - Art 13;"
    "Zusatzinformation - Inhalt 13;Zusatzinformation - Art 14;"
    "Zusatzinformation - Inhalt 14;Zusatzinformation - Art 15;"
    "Zusatzinformation - Inhalt 15;Zusatzinformation - Art 16;"
    "Zusatzinformation - Inhalt 16;Zusatzinformation - Art 17;"
    "Zusatzinformation - Inhalt 17;Zusatzinformation - Art 18;"
    "Zusatzinformation - Inhalt 18;Zusatzinformation - Art 19;"
    "Zusatzinformation - Inhalt 19;Zusatzinformation - Art 20;"
    "Zusatzinformation - Inhalt 20;Stück;Gewicht;Zahlweise;Forderungsart;"
    "Veranlagungsjahr;Zugeordnete Fälligkeit;Skontotyp;Auftragsnummer;Buchungstyp;"
    "USt-Schlüssel (Anzahlungen);EU-Land (Anzahlungen);Sachverhalt L+L (Anzahlungen);"
    "EU-Steuersatz (Anzahlungen);Erlöskonto (Anzahlungen);Herkunft-Kz;Leerfeld;"
    "KOST-Datum;SEPA-Mandatsreferenz;Skontosperre;Gesellschaftername;Beteiligtennummer;"
    "Identifikationsnummer;Zeichnernummer;Postensperre bis;Bezeichnung SoBil-Sachverhalt;"
    "Kennzeichen SoBil-Buchung;Festschreibung;Leistungsdatum;Datum Zuord. Steuerperiode;"
    "Fälligkeit;Generalumkehr;Steuersatz;Land;Abrechnungsreferenz;"
    "BVV-Position (Betriebsvermögensvergleich);EU-Mitgliedstaat u. UStID (Ursprung);"
    "EU-Steuersatz (Ursprung);Abw. Skontokonto"
)

DEBTOR_COLUMNS = _columns(
    "Konto;Name (Adressatentyp Unternehmen);Unternehmensgegenstand;"
    "Name (Adressatentyp natürl. Person);Vorname (Adressatentyp natürl. Person);"
    "Name (Adressatentyp keine Angabe);Adressatentyp;Kurzbezeichnung;EU-Mitgliedstaat;"
    "EU-USt-IdNr.;Anrede;Titel/Akad.Grad;Adelstitel;Namensvorsatz;Adressart;Straße;"
    "Postfach;Postleitzahl;Ort;Land;Versandzusatz;Adresszusatz;Abweichende Anrede;"
    "Abw. Zustellbezeichnung 1;Abw. Zustellbezeichnung 2;Kennz. Korrespondenzadresse;"
    "Adresse Gültig von;Adresse Gültig bis;Telefon;Bemerkung (Telefon);"
    "Telefon Geschäftsleitung;Bemerkung (Telefon GL);E-Mail;Bemerkung (E-Mail);Internet;"
    "Bemerkung (Internet);Fax;Bemerkung (Fax);Sonstige;Bemerkung (Sonstige);"
    "Bankleitzahl 1;Bankbezeichnung 1;Bank-Kontonummer 1;Länderkennzeichen 1;IBAN-Nr. 1;"
    "Leerfeld;SWIFT-Code 1;Abw. Kontoinhaber 1;Kennz. Hauptbankverb. 1;"
    "Bankverbindung 1 Gültig von;Bankverbindung 1 Gültig bis;Bankleitzahl 2;"
    "Bankbezeichnung 2;Bank-Kontonummer 2;Länderkennzeichen 2;IBAN-Nr. 2;Leerfeld;"
    "SWIFT-Code 2;Abw. Kontoinhaber 2;Kennz. Hauptbankverb. 2;"
    "Bankverbindung 2 Gültig von;Bankverbindung 2 Gültig bis;Bankleitzahl 3;"
    "Bankbezeichnung 3;Bank-Kontonummer 3;Länderkennzeichen 3;IBAN-Nr. 3;Leerfeld;"
    "SWIFT-Code 3;Abw. Kontoinhaber 3;Kennz. Hauptbankverb. 3;"
    "Bankverbindung 3 Gültig von;Bankverbindung 3 Gültig bis;Bankleitzahl 4;"
    "Bankbezeichnung 4;Bank-Kontonummer 4;Länderkennzeichen 4;IBAN-Nr. 4;Leerfeld;"
    "SWIFT-Code 4;Abw. Kontoinhaber 4;Kennz. Hauptbankverb. 4;"
    "Bankverbindung 4 Gültig von;Bankverbindung 4 Gültig bis;Bankleitzahl 5;"
    "Bankbezeichnung 5;Bank-Kontonummer 5;Länderkennzeichen 5;IBAN-Nr. 5;Leerfeld;"
    "SWIFT-Code 5;Abw. Kontoinhaber 5;Kennz. Hauptbankverb. 5;"
    "Bankverbindung 5 Gültig von;Bankverbindung 5 Gültig bis;Leerfeld;Briefanrede;"
    "Grußformel;Kundennummer;Steuernummer;Sprache;Ansprechpartner;Vertreter;"
    "Sachbearbeiter;Diverse-Konto;Ausgabeziel;Währungssteuerung;Kreditlimit (Debitor);"
    "Zahlungsbedingung;Fälligkeit in Tagen (Debitor);Skonto in Prozent (Debitor);"
    "Kreditoren-Ziel 1 (Tage);Kreditoren-Skonto 1 (%);Kreditoren-Ziel 2 (Tage);"
    "Kreditoren-Skonto 2 (%);Kreditoren-Ziel 3 Brutto (Tage);Kreditoren-Ziel 4 (Tage);"
    "Kreditoren-Skonto 4 (%);Kreditoren-Ziel 5 (Tage);Kreditoren-Skonto 5 (%);Mahnung;"
    "Kontoauszug;Mahntext 1;Mahntext 2;Mahntext 3;Kontoauszugstext;Mahnlimit Betrag;"
    "Mahnlimit %;Zinsberechnung;Mahnzinssatz 1;Mahnzinssatz 2;Mahnzinssatz 3;Lastschrift;"
    "Leerfeld;Mandantenbank;Zahlungsträger;Indiv. Feld 1;Indiv. Feld 2;Indiv. Feld 3;"
    "Indiv. Feld 4;Indiv. Feld 5;Indiv. Feld 6;Indiv. Feld 7;Indiv. Feld 8;Indiv. Feld 9;"
    "Indiv. Feld 10;Indiv. Feld 11;Indiv. Feld 12;Indiv. Feld 13;Indiv. Feld 14;"
    "Indiv. Feld 15;Abweichende Anrede (Rechnungsadresse);Adressart (Rechnungsadresse);"
    "Straße (Rechnungsadresse);Postfach (Rechnungsadresse);"
    "Postleitzahl (Rechnungsadresse);Ort (Rechnungsadresse);Land (Rechnungsadresse);"
    "Versandzusatz (Rechnungsadresse);Adresszusatz (Rechnungsadresse);"
    "Abw. Zustellbezeichnung 1 (Rechnungsadresse);"
    "Abw. Zustellbezeichnung 2 (Rechnungsadresse);Adresse Gültig von (Rechnungsadresse);"
    "Adresse Gültig bis (Rechnungsadresse);Bankleitzahl 6;Bankbezeichnung 6;"
    "Bank-Kontonummer 6;Länderkennzeichen 6;IBAN-Nr. 6;Leerfeld;SWIFT-Code 6;"
    "Abw. Kontoinhaber 6;Kennz. Hauptbankverb. 6;Bankverbindung 6 Gültig von;"
    "Bankverbindung 6 Gültig bis;Bankleitzahl 7;Bankbezeichnung 7;Bank-Kontonummer 7;"
    "Länderkennzeichen 7;IBAN-Nr. 7;Leerfeld;SWIFT-Code 7;Abw. Kontoinhaber 7;"
    "Kennz. Hauptbankverb. 7;Bankverbindung 7 Gültig von;Bankverbindung 7 Gültig bis;"
    "Bankleitzahl 8;Bankbezeichnung 8;Bank-Kontonummer 8;Länderkennzeichen 8;IBAN-Nr. 8;"
    "Leerfeld;SWIFT-Code 8;Abw. Kontoinhaber 8;Kennz. Hauptbankverb. 8;"
    "Bankverbindung 8 Gültig von;Bankverbindung 8 Gültig bis;Bankleitzahl 9;"
    "Bankbezeichnung 9;Bank-Kontonummer 9;Länderkennzeichen 9;IBAN-Nr. 9;Leerfeld;"
    "SWIFT-Code 9;Abw. Kontoinhaber 9;Kennz. Hauptbankverb. 9;"
    "Bankverbindung 9 Gültig von;Bankverbindung 9 Gültig bis;Bankleitzahl 10;"
    "Bankbezeichnung 10;Bank-Kontonummer 10;Länderkennzeichen 10;IBAN-Nr. 10;Leerfeld;"
    "SWIFT-Code 10;Abw. Kontoinhaber 10;Kennz. Hauptbankverb. 10;"
    "Bankverbindung 10 Gültig von;Bankverbindung 10 Gültig bis;Nummer Fremdsystem;"
    "Insolvent;SEPA-Mandatsreferenz 1;SEPA-Mandatsreferenz 2;SEPA-Mandatsreferenz 3;"
    "SEPA-Mandatsreferenz 4;SEPA-Mandatsreferenz 5;SEPA-Mandatsreferenz 6;"
    "SEPA-Mandatsreferenz 7;SEPA-Mandatsreferenz 8;SEPA-Mandatsreferenz 9;"
    "SEPA-Mandatsreferenz 10;Verknüpftes OPOS-Konto;Mahnsperre bis;Lastschriftsperre bis;"
    "Zahlungssperre bis;Gebührenberechnung;Mahngebühr 1;Mahngebühr 2;Mahngebühr 3;"
    "Pauschalenberechnung;Verzugspauschale 1;Verzugspauschale 2;Verzugspauschale 3;"
    "Alternativer Suchname;Status;Anschrift manuell geändert (Korrespondenzadresse);"
    "Anschrift individuell (Korrespondenzadresse);"
    "Anschrift manuell geändert (Rechnungsadresse);"
    "Anschrift individuell (Rechnungsadresse);Fristberechnung bei Debitor;Mahnfrist 1;"
    "Mahnfrist 2;Mahnfrist 3;Letzte Frist"
)


class Digits(str):
    """A value DATEV reads as a number or date: written as is, never quoted (e.g. 0111)."""


@dataclass(frozen=True)
class BatchHeader:
    """What the header record of a file says: for whom, which chart, which period."""

    consultant_number: int
    client_number: int
    fiscal_year_start: date
    account_length: int
    chart: str
    date_from: date | None = None
    date_to: date | None = None
    label: str = ""
    initials: str = ""
    currency: str = "EUR"
    locked: bool = False
    created_at: datetime | None = None


def amount(value: Decimal) -> Digits:
    """An amount with a decimal comma and no thousands separator: 1234,50."""
    return Digits(f"{round_money(value):f}".replace(".", ","))


def rate(value: Decimal) -> Digits:
    """An exchange rate with a decimal comma and six decimals: 0,935000."""
    return Digits(f"{value:.6f}".replace(".", ","))


def day_month(day: date) -> Digits:
    """Belegdatum: day and month, DDMM (the year comes from the header's period)."""
    return Digits(f"{day:%d%m}")


def full_date(day: date) -> Digits:
    """A date field with the year, DDMMYYYY."""
    return Digits(f"{day:%d%m%Y}")


def belegfeld(value: str) -> str:
    """Belegfeld 1: DATEV takes letters, digits and $ & % * + - / only, up to 36 of them."""
    return BELEGFELD_REFUSED.sub("", value)[:BELEGFELD_1_LENGTH]


def text(value: str, length: int | None = None) -> str:
    """Free text as DATEV takes it: one line, cut to the field's length."""
    flat = " ".join(str(value).split())
    return flat[:length] if length else flat


def header_record(header: BatchHeader, *, category: int, name: str, version: int) -> list:
    """The 31 fields of the first line (DATEV "Header", Satzaufbau fields 1-31)."""
    created = header.created_at or datetime.now()
    is_batch = category == BOOKING_CATEGORY
    return [
        "EXTF",  # 1 Kennzeichen: written by a third-party program
        Digits(str(HEADER_VERSION)),  # 2 Versionsnummer
        Digits(str(category)),  # 3 Formatkategorie
        name,  # 4 Formatname
        Digits(str(version)),  # 5 Formatversion
        Digits(f"{created:%Y%m%d%H%M%S}{created.microsecond // 1000:03d}"),  # 6 Erzeugt am
        None,  # 7 Importiert (DATEV fills it)
        ORIGIN,  # 8 Herkunft
        "",  # 9 Exportiert von
        "",  # 10 Importiert von
        Digits(str(header.consultant_number)),  # 11 Beraternummer
        Digits(str(header.client_number)),  # 12 Mandantennummer
        Digits(f"{header.fiscal_year_start:%Y%m%d}"),  # 13 WJ-Beginn
        Digits(str(header.account_length)),  # 14 Sachkontenlänge
        Digits(f"{header.date_from:%Y%m%d}") if is_batch else None,  # 15 Datum vom
        Digits(f"{header.date_to:%Y%m%d}") if is_batch else None,  # 16 Datum bis
        text(header.label, 30) if is_batch else "",  # 17 Bezeichnung
        header.initials if is_batch else "",  # 18 Diktatkürzel
        Digits("1") if is_batch else None,  # 19 Buchungstyp: 1 = Finanzbuchführung
        Digits("0") if is_batch else None,  # 20 Rechnungslegungszweck: 0 = unabhängig
        Digits("1" if header.locked else "0") if is_batch else None,  # 21 Festschreibung
        header.currency if is_batch else "",  # 22 WKZ
        None,  # 23 reserviert
        "",  # 24 Derivatskennzeichen
        None,  # 25 reserviert
        None,  # 26 reserviert
        header.chart,  # 27 Sachkontenrahmen: 03 = SKR 03, 04 = SKR 04
        None,  # 28 ID der Branchenlösung
        None,  # 29 reserviert
        "",  # 30 reserviert
        "",  # 31 Anwendungsinformation
    ]


def field(value) -> str:
    """One field: text in quotes (quotes doubled), numbers and dates bare, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, Digits | int):
        return str(value)
    if isinstance(value, Decimal):
        return amount(value)
    return '"' + text(value).replace('"', '""') + '"'


def line(values: Iterable) -> str:
    return SEPARATOR.join(field(value) for value in values) + LINE_END


def rows_in_layout(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> list[list]:
    """Each row's values at its column's position; columns a row does not name stay empty."""
    index = {name: position for position, name in enumerate(columns)}
    laid_out = []
    for row in rows:
        values: list = [None] * len(columns)
        for name, value in row.items():
            values[index[name]] = value
        laid_out.append(values)
    return laid_out


def write_file(
    header: BatchHeader,
    *,
    category: int,
    name: str,
    version: int,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
) -> bytes:
    """The whole file: header record, column names, one line per row; Windows-1252, where a
    character the code page lacks becomes '?' rather than failing the export."""
    lines = [line(header_record(header, category=category, name=name, version=version))]
    lines.append(SEPARATOR.join(columns) + LINE_END)
    lines.extend(line(values) for values in rows_in_layout(columns, rows))
    return "".join(lines).encode(ENCODING, errors="replace")
