"""Timestamps read from PostgreSQL are the instants stored, in Django's time zone."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import DataError, connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # the night Berlin moves its clocks
        datetime(2026, 10, 25, 1, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 500000, tzinfo=timezone(timedelta(hours=9, minutes=30))),
    ],
)
def test_a_timestamp_comes_back_as_the_instant_stored_in_utc(stored):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [stored])
        (loaded,) = cursor.fetchone()
    assert loaded == stored
    assert loaded.utcoffset() == timedelta(0)
    assert loaded.tzinfo == UTC


def test_a_timestamp_python_cannot_hold_is_refused_as_django_refuses_it():
    with connection.cursor() as cursor, pytest.raises(DataError, match=r"BC|infinity"):
        cursor.execute("SELECT '0044-03-15 12:00:00+00 BC'::timestamptz")
        cursor.fetchone()
