from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.audit import SystemActor
from review.forms import IntegrationForm
from review.models import PolicyProfile
from review.services import create_integration


class Command(BaseCommand):
    help = "Create an integration (a platform that sends flags). Audited."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--profile", default="Default", help="Policy profile name (default: Default).")
        parser.add_argument("--webhook-url", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        profile = PolicyProfile.objects.filter(name=options["profile"]).first()
        if profile is None:
            names = ", ".join(PolicyProfile.objects.order_by("name").values_list("name", flat=True))
            raise CommandError(f"No policy profile named {options['profile']!r}. Known: {names}.")
        form = IntegrationForm({"name": options["name"], "profile": profile.pk, "webhook_url": options["webhook_url"]})
        if not form.is_valid():
            problems = "; ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in form.errors.items())
            raise CommandError(f"Nothing created: {problems}")
        integration = create_integration(actor=SystemActor(f"cli:{getpass.getuser()}"), **form.cleaned_data)
        self.stdout.write(f"Created integration {integration.name} (id {integration.pk}, profile {profile.name}).")
