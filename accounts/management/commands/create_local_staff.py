"""For `make run` only: a local staff superuser with a fresh random password on every run."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "staff"


class Command(BaseCommand):
    help = "Create or update the local 'staff' superuser with a new random password (DEBUG only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site-url", default="http://127.0.0.1:8000", help="Where the shop is served.")

    def handle(self, *args, **options) -> None:
        # A known account with a printed password must never exist on a real site.
        if not settings.DEBUG:
            raise CommandError("create_local_staff is for local development only and refuses to run with DEBUG off.")
        password = secrets.token_urlsafe(16)
        user, _ = get_user_model().objects.get_or_create(
            username=USERNAME, defaults={"email": "staff@example.com", "first_name": "Local", "last_name": "Staff"}
        )
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.set_password(password)
        user.save()
        admin_url = options["site_url"].rstrip("/") + "/admin/"
        self.stdout.write(f"Staff login: {admin_url}  user: {USERNAME}  password: {password}")
