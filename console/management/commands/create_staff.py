from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.audit import SystemActor
from console.roles import Role
from console.services import create_staff


class Command(BaseCommand):
    help = (
        "Create a staff user with one role. The password is read from standard input when it is "
        "not a terminal (one line), otherwise asked for twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        if not username:
            raise CommandError("The username must not be empty.")
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"A staff user named {username!r} already exists.")
        password = self._read_password()
        try:
            create_staff(
                actor=SystemActor(f"cli:{getpass.getuser()}"),
                username=username,
                password=password,
                role=Role(options["role"]),
                email=options["email"],
            )
        except ValidationError as error:
            raise CommandError("The password was refused: " + " ".join(error.messages)) from None
        self.stdout.write(f"Created {username} with the role {options['role']}.")

    def _read_password(self) -> str:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise CommandError("No password on standard input: pipe one line with the password.")
            return password
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; nothing was created.")
        return first
