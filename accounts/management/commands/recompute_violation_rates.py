from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.rates import recompute


class Command(BaseCommand):
    help = (
        "Count every account's violations per window afresh from the violations themselves, "
        "fix the running counts and report each drift found. --check reports without fixing (exit 1 on drift)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Report drift, change nothing, exit 1 if any.")

    def handle(self, *args: Any, **options: Any) -> None:
        drifts = recompute(fix=not options["check"])
        for d in drifts[:200]:
            self.stdout.write(f"  account {d.account_id}: {d.field} was {d.stored}, is {d.actual}")
        if len(drifts) > 200:
            self.stdout.write(f"  … and {len(drifts) - 200} more")
        accounts = len({d.account_id for d in drifts})
        if not drifts:
            self.stdout.write("No drift: every account's running counts match its violations.")
        elif options["check"]:
            self.stdout.write(f"Drift in {accounts} account(s); run without --check to fix it.")
            raise SystemExit(1)
        else:
            self.stdout.write(f"Fixed drift in {accounts} account(s).")
