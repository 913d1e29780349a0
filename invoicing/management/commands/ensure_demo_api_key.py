"""Give the demo integrator a development API key once and print it with a curl line."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cpo_portal.kernel.integrations.keys import ApiKeyError, authenticate_key, create_api_key
from cpo_portal.kernel.integrations.models import ApiKey, Integrator

DEMO_OPERATOR = "VoltWay"
KEY_NAME = "development"


class Command(BaseCommand):
    help = (
        "Create a development API key for the demo operator's integrator if it has none that "
        "works, keep it in var/demo-api-key.txt and print it with an example request "
        "(development profile only: a key's plain text is otherwise shown once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--operator", default=DEMO_OPERATOR, help="Operator's trading name.")

    def handle(self, *args, operator: str, **options):
        if not settings.DEVELOPMENT:
            raise CommandError(
                "The demo API key is for the development profile; outside it create keys in "
                "the admin (Integrations), where the key is shown once."
            )
        integrator = (
            Integrator.objects.filter(operator__name=operator, is_active=True)
            .order_by("pk")
            .first()
        )
        if integrator is None:
            self.stdout.write(f"No integrator of “{operator}” yet (run seed_demo first).")
            return
        key_file = Path(settings.VAR_DIR) / "demo-api-key.txt"
        plaintext = self._stored(key_file, integrator)
        if plaintext is None:
            plaintext = create_api_key(
                integrator=integrator, name=KEY_NAME, scope=ApiKey.Scope.WRITE
            ).plaintext
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(f"{plaintext}\n", encoding="utf-8")
            key_file.chmod(0o600)
        port = os.environ.get("WEB_PORT", "8000")
        self.stdout.write(self.style.SUCCESS(f"Integrator API ready ({integrator.name})."))
        self.stdout.write(f"  Key:    {plaintext}  (read and write; kept in {key_file})")
        self.stdout.write(
            f'  Try:    curl -H "Authorization: Bearer {plaintext}" '
            f"http://127.0.0.1:{port}/api/v1/invoices/"
        )

    def _stored(self, key_file: Path, integrator: Integrator) -> str | None:
        """The key kept from an earlier run, if it still opens this integrator's API."""
        if not key_file.exists():
            return None
        plaintext = key_file.read_text(encoding="utf-8").strip()
        try:
            api_key = authenticate_key(plaintext)
        except ApiKeyError:
            return None
        return plaintext if api_key.integrator_id == integrator.pk else None
