from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.audit import SystemActor
from review.models import Integration, Scope
from review.services import create_api_key


class Command(BaseCommand):
    help = (
        "Create an API key for an integration and print it once, alone on standard output "
        "(so `KEY=$(manage.py create_api_key …)` works). Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("integration", help="The integration's name.")
        parser.add_argument("--scopes", required=True, help=f"Comma-separated: {', '.join(Scope.values)}.")
        parser.add_argument("--name", default="cli", help="What the key is for (default: cli).")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = Integration.objects.filter(name=options["integration"]).first()
        if integration is None:
            raise CommandError(f"No integration named {options['integration']!r}.")
        requested = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        unknown = [s for s in requested if s not in Scope.values]
        if unknown or not requested:
            raise CommandError(f"Unknown or missing scopes {unknown}; choose from: {', '.join(Scope.values)}.")
        new = create_api_key(
            actor=SystemActor(f"cli:{getpass.getuser()}"),
            integration=integration,
            name=options["name"],
            scopes=[Scope(s) for s in requested],
        )
        self.stdout.write(new.secret)
