from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.demo import DEMO_PASSWORD, DEMO_STAFF, _steps


class Command(BaseCommand):
    help = "Load demo users and data (safe to run again). Refuses to run unless DEBUG is on or --force is given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off (never in production).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates users with a published password; run it with DEBUG=true "
                "(or --force on a throwaway database)."
            )
        for step in _steps():
            step(lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role in DEMO_STAFF:
            self.stdout.write(f"  {username:<10} {role.label}")
