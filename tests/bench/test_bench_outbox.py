"""The outbox benchmark (`make bench`) drains queued messages with two workers, each sent once."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db(transaction=True)
def test_bench_outbox_reports_messages_per_second_and_memory_with_each_message_sent_once():
    out = StringIO()
    call_command("bench_outbox", "--messages", "60", stdout=out, stderr=StringIO())
    report = out.getvalue()
    assert "Outbox: 60 messages with 2 workers in" in report
    assert "messages/s, peak memory per worker" in report
    assert "sent 60 of 60, 60 attempts (each sent once)" in report


def test_bench_outbox_refuses_no_messages():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("bench_outbox", "--messages", "0", stdout=StringIO())
