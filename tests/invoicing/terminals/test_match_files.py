"""`match_files`: the operator's offline matching of JSON files, printing JSON."""

import json

import pytest
from django.core.management import CommandError, call_command

TERMINALS = [{"terminal_id": "T1", "evse_ids": ["DE*VOL*E0001*1"], "time_zone": "Europe/Berlin"}]
SESSIONS = [
    {
        "id": "S-88",
        "evse_id": "DE*VOL*E0001*1",
        "start": "2026-03-02T12:00:00+00:00",
        "end": "2026-03-02T13:00:00+00:00",
        "total_incl_vat": "18.42",
        "currency": "EUR",
        "payment_reference": None,
    },
    {
        "id": "S-89",
        "evse_id": "DE*VOL*E0001*1",
        "start": "2026-03-02T15:00:00+00:00",
        "end": "2026-03-02T15:30:00+00:00",
        "total_incl_vat": "9.00",
        "currency": "EUR",
        "payment_reference": None,
    },
]
TRANSACTIONS = [
    {
        "id": "A1",
        "terminal_id": "T1",
        "kind": "authorization",
        "amount": "50.00",
        "currency": "EUR",
        "at": "2026-03-02T12:59:00+01:00",
        "authorization_id": None,
        "card_last4": "4242",
        "reference": None,
    },
    {
        "id": "C1",
        "terminal_id": "T1",
        "kind": "capture",
        "amount": "18.42",
        "currency": "EUR",
        "at": "2026-03-02T14:02:31+01:00",
        "authorization_id": "A1",
        "card_last4": "4242",
        "reference": None,
    },
]


def write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(json.dumps(rows) if not isinstance(rows, str) else rows)
    return str(path)


def run(tmp_path, transactions=TRANSACTIONS, *flags):
    out = []

    class Out:
        def write(self, text):
            out.append(text)

    call_command(
        "match_files",
        "--terminals",
        write(tmp_path, "t.json", TERMINALS),
        "--sessions",
        write(tmp_path, "s.json", SESSIONS),
        "--transactions",
        write(tmp_path, "x.json", transactions),
        *flags,
        stdout=Out(),
    )
    return json.loads("".join(out))


def test_prints_the_matches_and_what_is_left_as_json(tmp_path):
    assert run(tmp_path) == {
        "matched": [
            {
                "session": "S-88",
                "transaction": "C1",
                "reason": "capture 18.42 EUR at 14:02:31, 3 min after session S-88 on "
                "DE*VOL*E0001*1 ended, amount equal",
            }
        ],
        "review": [],
        "unmatched_sessions": ["S-89"],
        "unmatched_transactions": [],
    }


def test_a_flag_overrides_the_configured_tolerance(tmp_path):
    off = [dict(TRANSACTIONS[0]), dict(TRANSACTIONS[1], amount="18.45")]
    assert run(tmp_path, off)["matched"] == []
    assert [m["session"] for m in run(tmp_path, off, "--amount-tolerance", "0.05")["matched"]] == [
        "S-88"
    ]


@pytest.mark.parametrize(
    ("transactions", "sentence"),
    [
        ("[not json", "is not valid JSON"),
        ([dict(TRANSACTIONS[1], amount=18.42)], "must be a decimal string"),
        ([dict(TRANSACTIONS[1], kind="payout")], "“kind” must be one of"),
        ([dict(TRANSACTIONS[1], at="yesterday")], "is not an ISO 8601 time"),
        ([TRANSACTIONS[0], TRANSACTIONS[0]], "appears twice"),
    ],
)
def test_a_bad_file_is_refused_with_a_sentence(tmp_path, transactions, sentence):
    with pytest.raises(CommandError, match=sentence):
        run(tmp_path, transactions)
