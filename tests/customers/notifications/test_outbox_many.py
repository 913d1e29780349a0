"""Many messages at once (a billing chunk's documents): the same rows as one by one, written
with a few queries whatever their number, the due ones sent in batches after commit."""

from __future__ import annotations

import time
from decimal import Decimal

from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from customers.models import MessageAttempt, OutboundMessage
from customers.notifications.models import MessageTemplate
from customers.notifications.outbox import Notice, notify, notify_many
from customers.notifications.sending import send_due_messages
from tests.factories import CustomerFactory

CONTEXT = {"amount": Decimal("24.50"), "currency": "EUR", "customer_name": "Anna"}
COMPARED = ("customer_id", "event", "channel", "recipient", "language", "subject", "body_text")


def drivers(operator, n: int) -> list:
    languages = ["de", "fr", "en", "el", "ar"]
    return [
        CustomerFactory(
            operator=operator,
            language=languages[i % len(languages)],
            mobile_phone="+4915123456789" if i % 2 else "",
        )
        for i in range(n)
    ]


def rows() -> list[tuple]:
    return sorted(OutboundMessage.objects.values_list(*COMPARED))


def notices(customers, *, dedupe: str = "n") -> list[Notice]:
    return [
        Notice(
            event="payment_succeeded",
            customer=customer,
            context=CONTEXT,
            dedupe_key=f"{dedupe}:{customer.pk}",
        )
        for customer in customers
    ]


def test_many_notices_make_the_rows_one_by_one_would(operator):
    customers = drivers(operator, 6)
    customers[0].notification_preferences.create(event="payment_succeeded", channels="none")
    customers[1].notification_preferences.create(event="payment_succeeded", channels="sms")
    MessageTemplate.objects.create(
        operator=operator,
        event="payment_succeeded",
        channel="email",
        language="en",
        subject="Thanks {{ customer_name }}",
        body_text="Got {{ amount }} {{ currency }}.",
    )
    with transaction.atomic():
        for notice in notices(customers):
            notify(
                event=notice.event,
                customer=notice.customer,
                context=notice.context,
                dedupe_key=notice.dedupe_key,
            )
    one_by_one = rows()
    OutboundMessage.objects.all().delete()

    with transaction.atomic():
        queued = notify_many(notices(customers))

    assert rows() == one_by_one
    # Nothing; a text only; then four e-mails, two of them with a text.
    assert queued == len(one_by_one) == 7
    assert ("Thanks Anna", "Got 24.50 EUR.") in {(subject, text) for *_, subject, text in rows()}


def test_a_notice_queued_before_is_not_queued_again(operator):
    customers = drivers(operator, 3)
    with transaction.atomic():
        first = notify_many(notices(customers[:2]))
    with transaction.atomic():
        again = notify_many(notices(customers))

    assert (first, again) == (3, 1)  # the third driver's e-mail only
    assert OutboundMessage.objects.count() == 4


def test_the_queries_do_not_grow_with_the_number_of_notices(operator):
    few, many = drivers(operator, 2), drivers(operator, 20)

    def queries(customers) -> int:
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            notify_many(notices(customers, dedupe=str(len(customers))))
        return len(captured.captured_queries)

    assert queries(many) == queries(few)


def test_the_due_messages_go_out_through_the_workers_after_commit(
    operator, celery_worker_thread, tmp_path
):
    customers = drivers(operator, 3)

    with transaction.atomic():
        notify_many(notices(customers))
        assert mail.outbox == []  # nothing leaves before commit

    deadline = time.monotonic() + 60
    while OutboundMessage.objects.exclude(status="sent").exists():
        assert time.monotonic() < deadline, "the worker sends the batch"
        time.sleep(0.1)
    assert len(mail.outbox) == 3 and len(list((tmp_path / "sms").iterdir())) == 1
    assert MessageAttempt.objects.count() == 4  # each sent once


def test_an_e_mail_whose_files_follow_waits_for_them_and_says_why(operator):
    (customer,) = drivers(operator, 1)
    with transaction.atomic():
        notify_many(
            [
                Notice(
                    event="receipt_email",
                    customer=customer,
                    context=CONTEXT,
                    files_follow="the PDF is not rendered yet",
                )
            ]
        )

    assert send_due_messages() == 0
    (message,) = OutboundMessage.objects.all()
    assert message.status == "queued" and message.last_error == "the PDF is not rendered yet"
