from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.audit import SystemActor
from console.services import lift_sign_in_lockout


class Command(BaseCommand):
    help = "Lift a sign-in lockout before its time, for a staff username and/or a client address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="")
        parser.add_argument("--address", default="")
        parser.add_argument("--reason", required=True, help="Kept in the audit log.")

    def handle(self, *args: Any, **options: Any) -> None:
        username, address, reason = options["username"].strip(), options["address"].strip(), options["reason"].strip()
        if not username and not address:
            raise CommandError("Name a --username, an --address, or both.")
        if not reason:
            raise CommandError("Give a reason: it is kept in the audit log.")
        user = None
        if username:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"There is no staff user named {username!r}.")
        lifted = lift_sign_in_lockout(
            actor=SystemActor(f"cli:{getpass.getuser()}"), user=user, address=address, reason=reason
        )
        if lifted:
            self.stdout.write(f"Lifted the lockout of: {', '.join(lifted)}.")
        else:
            self.stdout.write("Nothing was locked; the failure counts were cleared.")
