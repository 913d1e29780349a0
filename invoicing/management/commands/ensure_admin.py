"""Ensure a back-office superuser exists and print how to log in (development set-up)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the back-office superuser if missing and print the login. Outside the "
        "development profile a --password must be given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")
        parser.add_argument("--password", help="Password to set (default: generated once).")

    def handle(self, *args, username: str, email: str, password: str | None, **options):
        if not settings.DEVELOPMENT and not password:
            raise CommandError(
                "Outside the development profile give the password with --password; "
                "no default password is created in production."
            )
        credentials_file = Path(settings.VAR_DIR) / "admin-credentials.txt"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email=email, password=password)
            if settings.DEVELOPMENT:
                credentials_file.parent.mkdir(parents=True, exist_ok=True)
                credentials_file.write_text(f"{username}\n{password}\n", encoding="utf-8")
                credentials_file.chmod(0o600)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        elif credentials_file.exists():
            stored_user, password = credentials_file.read_text(encoding="utf-8").split()[:2]
            if stored_user != username:
                password = None

        port = os.environ.get("WEB_PORT", "8000")
        self.stdout.write(self.style.SUCCESS("Back-office ready."))
        self.stdout.write(f"  Admin:  http://127.0.0.1:{port}/admin/")
        self.stdout.write(f"  User:   {username}")
        self.stdout.write(
            f"  Password: {password}"
            if password
            else "  Password: unchanged (set one with --password)"
        )
        self.stdout.write(f"  API:    http://127.0.0.1:{port}/api/v1/docs/")
        self.stdout.write(f"  Portal: http://127.0.0.1:{port}/")
