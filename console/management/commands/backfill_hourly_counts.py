from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from console.aggregates import backfill, floor_hour, mark_up_to_date


class Command(BaseCommand):
    help = (
        "Count the dashboard's hourly counts afresh from the raw tables, from a day until now. "
        "Safe to run at any time and more than once; the periodic job keeps the last hours current."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=35, help="How many days back to count (default 35).")
        parser.add_argument("--since", help="Count from this UTC day (YYYY-MM-DD) instead; overrides --days.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        if options["since"]:
            try:
                day = date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError(f"--since must be a date like 2026-01-31, not {options['since']!r}.") from None
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            if start > now:
                raise CommandError(f"--since is in the future ({day}); nothing could be counted.")
        else:
            if options["days"] < 1:
                raise CommandError(f"--days must be at least 1, not {options['days']}.")
            start = floor_hour(now - timedelta(days=options["days"]))
        written = backfill(start=start, end=now)
        mark_up_to_date(now)
        self.stdout.write(
            f"Counted {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC: {written} hourly counts written."
        )
