from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.audit import SystemActor
from console.services import reset_totp


class Command(BaseCommand):
    help = (
        "Remove a staff member's authenticator app (lost phone, no recovery codes left) and end their "
        "sessions; they set up a new one at their next sign-in. For when no staff admin can do it from "
        "the Staff page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Kept in the audit log.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"There is no staff user named {options['username']!r}.")
        if not options["reason"].strip():
            raise CommandError("Give a reason: it is kept in the audit log.")
        actor = SystemActor(f"cli:{getpass.getuser()}")
        if not reset_totp(actor=actor, user=user, reason=options["reason"].strip()):
            raise CommandError(f"{user.get_username()} has no authenticator app to reset.")
        self.stdout.write(f"Reset {user.get_username()}'s two-factor sign-in and ended their sessions.")
