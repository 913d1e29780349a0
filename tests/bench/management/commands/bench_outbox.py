"""Benchmark: the outbox draining queued messages through the file e-mail and SMS backends.

Runs against a scratch database filled with `--messages` queued rows (one in ten an SMS), then
starts `--workers` processes that each drain the outbox as the sweeper does (claim under a row
lock, send, record the attempt) until nothing is due. Reports messages per second over the
whole drain, the peak memory of the busiest worker, and checks every message went out once.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from customers.models import MessageAttempt, OutboundMessage
from customers.notifications.sending import send_due_messages
from tests.bench.fixtures import create_customer, create_operator
from tests.bench.report import mb, verdict
from tests.bench.scratch import child_env, manage_py, scratch_database

MESSAGES = 100_000
WORKERS = 2
TARGET_PER_SECOND = 500
BATCH = 5_000


class Command(BaseCommand):
    help = "The outbox draining queued e-mails and SMS with several workers (messages/s, memory)."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=MESSAGES)
        parser.add_argument("--workers", type=int, default=WORKERS)
        # Internal: a worker subprocess is this command draining until nothing is due.
        parser.add_argument("--drain", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["drain"]:
            while send_due_messages():
                pass
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.stdout.write(f"peak_kb={peak}")
            return
        if options["messages"] < 1 or options["workers"] < 1:
            raise CommandError("--messages and --workers must be at least 1.")
        with scratch_database("bench_outbox"), tempfile.TemporaryDirectory() as folder:
            queue_messages(options["messages"])
            self._run(options["messages"], options["workers"], folder)

    def _run(self, count: int, workers: int, folder: str) -> None:
        env = child_env(
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=f"{folder}/mail",
            SMS_BACKEND="cpo_portal.kernel.sms.backends.FileBackend",
            SMS_FILE_PATH=f"{folder}/sms",
        )
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                manage_py("bench_outbox", "--drain"),
                cwd=settings.BASE_DIR,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(workers)
        ]
        outputs = [process.communicate()[0] for process in processes]
        seconds = time.perf_counter() - started
        if any(process.returncode for process in processes):
            raise CommandError("A worker failed:\n" + "\n".join(outputs))
        peaks = [
            int(line.split("=")[1])
            for out in outputs
            for line in out.splitlines()
            if line.startswith("peak_kb=")
        ]
        sent = OutboundMessage.objects.filter(status=OutboundMessage.Status.SENT).count()
        attempts = MessageAttempt.objects.count()
        rate = count / seconds
        self.stdout.write(
            f"Outbox: {count} messages with {workers} workers in {seconds:.1f} s: "
            f"{rate:.0f} messages/s, peak memory per worker {mb(max(peaks))}"
        )
        self.stdout.write(f"sent {sent} of {count}, {attempts} attempts (each sent once)")
        if sent != count or attempts != count:
            raise CommandError("Not every message was sent exactly once.")
        self.stdout.write(
            verdict(
                self.style,
                within=rate >= TARGET_PER_SECOND,
                met=f"within target ({TARGET_PER_SECOND} messages/s)",
                missed=f"below target ({TARGET_PER_SECOND} messages/s)",
            )
        )


def queue_messages(count: int) -> None:
    """`count` queued messages of one operator's drivers, as the outbox holds them."""
    operator = create_operator()
    driver = create_customer(operator, mobile_phone="+4915123456789")
    now = timezone.now()
    for start in range(0, count, BATCH):
        OutboundMessage.objects.bulk_create(
            OutboundMessage(
                customer=driver,
                event="payment_succeeded",
                channel="sms" if index % 10 == 9 else "email",
                recipient=driver.mobile_phone if index % 10 == 9 else driver.email,
                language="en",
                subject=f"Payment received: {index}.00 EUR",
                body_text=f"Dear driver, we have received your payment of {index}.00 EUR.",
                body_html=f"<p>we have received your payment of {index}.00 EUR.</p>",
                not_before=now,
            )
            for index in range(start, min(start + BATCH, count))
        )
