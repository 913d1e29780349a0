"""The demo's made-up world: places, people, fleets and how they drive (data for seed_demo)."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from stdnum import luhn
from stdnum.iso7064 import mod_11_10

# (name, street, postal code, city, country, time zone, EVSE prefix, AC points, DC points)
LOCATIONS = [
    (
        "Berlin Hauptbahnhof",
        "Europaplatz 1",
        "10557",
        "Berlin",
        "DE",
        "Europe/Berlin",
        "DE*VWY",
        2,
        1,
    ),
    ("München Ost", "Orleansplatz 11", "81667", "München", "DE", "Europe/Berlin", "DE*VWY", 2, 1),
    (
        "Paris Gare de Lyon",
        "Place Louis-Armand",
        "75012",
        "Paris",
        "FR",
        "Europe/Paris",
        "FR*VWY",
        2,
        1,
    ),
    (
        "Athens Syntagma",
        "Plateia Syntagmatos 2",
        "10563",
        "Athina",
        "GR",
        "Europe/Athens",
        "GR*VWY",
        2,
        1,
    ),
    (
        "Zürich Hauptbahnhof",
        "Bahnhofplatz 15",
        "8001",
        "Zürich",
        "CH",
        "Europe/Zurich",
        "CH*VWY",
        2,
        1,
    ),
    (
        "Hamburg HafenCity",
        "Am Sandtorkai 48",
        "20457",
        "Hamburg",
        "DE",
        "Europe/Berlin",
        "DE*VWY",
        3,
        2,
    ),
    ("Köln Deutz", "Ottoplatz 2", "50679", "Köln", "DE", "Europe/Berlin", "DE*VWY", 3, 1),
    (
        "Frankfurt Westhafen",
        "Speicherstraße 5",
        "60327",
        "Frankfurt am Main",
        "DE",
        "Europe/Berlin",
        "DE*VWY",
        3,
        2,
    ),
    (
        "Berlin Adlershof",
        "Rudower Chaussee 17",
        "12489",
        "Berlin",
        "DE",
        "Europe/Berlin",
        "DE*VWY",
        4,
        1,
    ),
    (
        "Lyon Part-Dieu",
        "Boulevard Vivier-Merle 5",
        "69003",
        "Lyon",
        "FR",
        "Europe/Paris",
        "FR*VWY",
        2,
        1,
    ),
    (
        "Thessaloniki Limani",
        "Leoforos Nikis 7",
        "54624",
        "Thessaloniki",
        "GR",
        "Europe/Athens",
        "GR*VWY",
        2,
        1,
    ),
]

# Where drivers live, near which location (index above): city, country, postal codes, streets.
STREETS = {
    "DE": [
        "Lindenstraße",
        "Ahornweg",
        "Birkenallee",
        "Kastanienweg",
        "Am Mühlbach",
        "Gartenstraße",
        "Bergstraße",
        "Schulstraße",
        "Wiesenweg",
        "Rosenstraße",
        "Eichendorffstraße",
        "Fontanestraße",
        "Uhlandstraße",
        "Am Lindenhof",
        "Goethestraße",
        "Holunderweg",
        "Lessingstraße",
        "Parkallee",
        "Sonnenwinkel",
        "Tannenweg",
    ],
    "FR": [
        "rue des Tilleuls",
        "rue Victor-Hugo",
        "avenue Jean-Jaurès",
        "boulevard Voltaire",
        "rue des Lilas",
        "rue Pasteur",
        "rue du Moulin",
        "rue de la République",
        "allée des Platanes",
        "rue Saint-Honoré",
        "quai de la Loire",
        "rue Mercière",
    ],
    "GR": [
        "Ermou",
        "Patision",
        "Solonos",
        "Akadimias",
        "Skoufa",
        "Tsimiski",
        "Egnatias",
        "Mitropoleos",
        "Kifisias",
        "Vasilissis Sofias",
        "Irakleitou",
        "Agias Sofias",
    ],
    "CH": [
        "Seefeldstrasse",
        "Rosengartenstrasse",
        "Badenerstrasse",
        "Hofwiesenstrasse",
        "Forchstrasse",
        "Kornhausstrasse",
        "Winterthurerstrasse",
        "Bäckerstrasse",
    ],
}
HOMES = [
    ("Berlin", "DE", ["10115", "10245", "10437", "10827", "12043", "13187", "10999"], [0, 8]),
    ("München", "DE", ["80331", "80469", "80797", "81369", "81667"], [1]),
    ("Hamburg", "DE", ["20095", "20249", "22081", "22765", "20457"], [5]),
    ("Köln", "DE", ["50667", "50733", "50823", "51103", "50679"], [6]),
    ("Frankfurt am Main", "DE", ["60311", "60316", "60486", "65929"], [7]),
    ("Paris", "FR", ["75004", "75011", "75015", "75018", "75012"], [2]),
    ("Lyon", "FR", ["69002", "69003", "69007"], [9]),
    ("Athina", "GR", ["10557", "10682", "11141", "11527"], [3]),
    ("Thessaloniki", "GR", ["54622", "54636", "54248"], [10]),
    ("Zürich", "CH", ["8001", "8003", "8005", "8037", "8050"], [4]),
]
HOME_WEIGHTS = [22, 12, 10, 9, 9, 10, 5, 9, 5, 4]
FIRST_NAMES = {
    "DE": [
        "Anna",
        "Lukas",
        "Mia",
        "Jonas",
        "Lea",
        "Felix",
        "Sophie",
        "Paul",
        "Hannah",
        "Leon",
        "Marie",
        "Max",
        "Laura",
        "Tim",
        "Julia",
        "Tobias",
        "Katrin",
        "Stefan",
        "Sabine",
        "Jan",
        "Claudia",
        "Michael",
        "Petra",
        "Andreas",
        "Nina",
        "Florian",
        "Sarah",
        "Markus",
    ],
    "FR": [
        "Camille",
        "Lucas",
        "Chloé",
        "Hugo",
        "Manon",
        "Louis",
        "Léa",
        "Gabriel",
        "Inès",
        "Arthur",
        "Juliette",
        "Nathan",
        "Sophie",
        "Thomas",
        "Claire",
        "Julien",
    ],
    "GR": [
        "Eleni",
        "Giorgos",
        "Maria",
        "Nikos",
        "Katerina",
        "Dimitris",
        "Sofia",
        "Kostas",
        "Ioanna",
        "Yannis",
        "Despina",
        "Panagiotis",
    ],
    "CH": ["Noah", "Lina", "Luca", "Elena", "Matteo", "Nora", "Reto", "Corinne", "Urs", "Anja"],
    "AR": ["Omar", "Layla", "Karim", "Yasmin", "Samir", "Nour", "Tarek", "Rania"],
}
LAST_NAMES = {
    "DE": [
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Richter",
        "Klein",
        "Wolf",
        "Neumann",
        "Schwarz",
        "Zimmermann",
        "Braun",
        "Krüger",
        "Hartmann",
        "Lange",
        "Werner",
        "Krause",
        "Lehmann",
    ],
    "FR": [
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Simon",
        "Laurent",
        "Lefèvre",
        "Michel",
        "Garcia",
        "Fournier",
        "Girard",
    ],
    "GR": [
        "Papadopoulou",
        "Papadopoulos",
        "Georgiou",
        "Nikolaidis",
        "Konstantinou",
        "Ioannidis",
        "Vlachou",
        "Oikonomou",
        "Makri",
        "Dimitriou",
        "Pappas",
        "Karagianni",
    ],
    "CH": ["Meier", "Keller", "Brunner", "Baumann", "Frei", "Gerber", "Graf", "Huber"],
    "AR": ["Haddad", "Khalil", "Nasser", "Saleh", "Mansour", "Aziz", "Hamdan", "Darwish"],
}
LANGUAGE = {"DE": "de", "FR": "fr", "GR": "el", "CH": "de", "AR": "ar"}

# Company fleets: (company, contact, city index in HOMES, cards, e-invoice, buyer reference).
FLEETS = [
    ("Pflegedienst Sonnenschein GmbH", "Fuhrpark", 0, 6, "", ""),
    ("Kurierdienst Blitz GmbH", "Disposition", 0, 8, "", ""),
    ("Elektro Hartmann KG", "Buchhaltung", 1, 3, "", ""),
    ("Stadtwerke Köln-Süd", "Kreditorenbuchhaltung", 3, 5, "xrechnung_cii", "05315000-0042-17"),
    ("Immobilien Lange & Partner", "Verwaltung", 4, 3, "", ""),
    ("Bäckerei Krause", "Inhaber", 2, 3, "", ""),
    ("Handwerkerhof Nord eG", "Fuhrpark", 2, 4, "xrechnung_ubl", "02000000-0815-42"),
    ("Taxi Zentrale Frankfurt eG", "Abrechnung", 4, 7, "", ""),
    ("Livraisons Express Lyon SAS", "Comptabilité", 6, 4, "", ""),
]
FLEET_STREETS = [
    "Gewerbering 12",
    "Industriestraße 48",
    "Hansestraße 7",
    "Werkstraße 21",
    "Am Güterbahnhof 3",
    "Hafenweg 19",
    "Mühlenkamp 30",
    "Hanauer Landstraße 151",
    "rue de Gerland 62",
]


def ascii_name(text: str) -> str:
    """A name as it appears in an e-mail address (Müller -> muller, Chloé -> chloe)."""
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c == "-")).lower()


def german_vat_id(rng: random.Random) -> str:
    """A German VAT ID with a valid check digit (ISO 7064 MOD 11,10), made up."""
    body = f"{rng.randint(10_000_000, 99_999_999)}"
    return f"DE{body}{mod_11_10.calc_check_digit(body)}"


def french_vat_id(rng: random.Random) -> str:
    """A French VAT ID: a SIREN with its Luhn digit and the key in front, made up."""
    body = f"{rng.randint(10_000_000, 99_999_999)}"
    siren = body + luhn.calc_check_digit(body)
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


@dataclass
class Card:
    """One charging card and how its driver charges: where, how often, how much."""

    uid: str
    home: list[int]  # location indexes near home
    monthly_kwh: int
    dc_share: float
    active_from: date
    active_until: date | None = None
    trips: bool = True
    fixed: list = field(default_factory=list)  # days already taken (a trip planned apart)


def drive(card: Card, *, rng: random.Random, first: date, last: date, evses, now: datetime):
    """The card's sessions from `first` to `last`: at most one a day, so the driver is in one
    place at a time; mostly near home, sometimes a trip of a week to another city; about
    `monthly_kwh` a month."""
    day = max(first, card.active_from)
    end = min(last, card.active_until or last)
    trip_until, trip_location = date.min, None
    while day <= end:
        if day > trip_until and card.trips and rng.random() < 0.006:
            trip_until = day + timedelta(days=rng.randint(3, 8))
            trip_location = rng.randrange(len(LOCATIONS))
        location = trip_location if day <= trip_until else rng.choice(card.home)
        dc = rng.random() < card.dc_share
        energy = Decimal(rng.randint(20000 if dc else 15000, 60000 if dc else 45000)) / 1000
        # One session every few days, so the month adds up to about monthly_kwh.
        if day not in card.fixed and rng.random() < card.monthly_kwh / float(energy) / 30.4:
            tz = LOCATIONS[location][5]
            points = [e for e in evses[location] if e.is_dc == dc] or evses[location]
            evse = rng.choice(points)
            local = datetime.combine(
                day, time(rng.randint(6, 20), rng.randint(0, 59)), ZoneInfo(tz)
            )
            power = Decimal(rng.choice([50, 75, 110])) if evse.is_dc else Decimal("11")
            minutes = int(energy / power * 60) + rng.randint(3, 12)
            idle = 0 if evse.is_dc and rng.random() < 0.8 else rng.choice([0, 0, 0, 5, 12, 30, 75])
            ends = local + timedelta(minutes=minutes + idle)
            if ends < now - timedelta(hours=1):
                yield evse, local, ends, energy, idle
        day += timedelta(days=1)
