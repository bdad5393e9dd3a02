"""manage.py export_report NAME [--from DAY] [--to DAY] [--format csv|jsonl] [--output FILE] [filters]

Streams the report to FILE (or standard output), never holding it in memory.
The audit entry names the `--actor` staff user (who must hold the Export
reports capability) or, without one, "manage.py export_report".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.access import has_cap
from console.audit import SystemActor
from console.reports import REPORTS, UnknownReport, get_report
from console.reports import services as reports
from console.reports.forms import ReportFilterForm
from console.reports.writers import chunks
from console.roles import Cap
from review.models import Integration

COMMAND_ACTOR = SystemActor("manage.py export_report")


class Command(BaseCommand):
    help = "Export a report (violations, actions, account_rates, reviewer_activity) as CSV or JSON Lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"The report: {', '.join(REPORTS)}.")
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="First UTC day (included).")
        parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="Last UTC day (included).")
        parser.add_argument("--format", default="csv", help="csv (default) or jsonl.")
        parser.add_argument("--output", "-o", metavar="FILE", help="Write here instead of standard output.")
        parser.add_argument("--integration", help="An integration's name or id.")
        for name in ("category", "severity", "source", "queue", "state"):
            parser.add_argument(f"--{name}")
        parser.add_argument("--actor", metavar="USERNAME", help="The staff user the audit entry names.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = get_report(options["name"])
        except UnknownReport as exc:
            raise CommandError(str(exc)) from None
        actor = self._actor(options["actor"])
        data = {name: options[name] for name in ("date_from", "date_to", "format", "category", "severity", "source",
                                                 "queue", "state") if options[name] is not None}
        if options["integration"] is not None:
            data["integration"] = self._integration(options["integration"])
        for name in data:
            if name != "format" and name not in report.filter_names:
                raise CommandError(f"The {report.name} report cannot be filtered by {name.replace('date_', '')}; "
                                   f"it takes {', '.join(f.replace('date_', '') for f in report.filter_names)}.")
        form = ReportFilterForm(data, report=report)
        if not form.is_valid():
            raise CommandError(f"Cannot export: {form.first_error()}")
        filters, fmt = form.filters(), form.cleaned_data["format"]
        path = Path(options["output"]) if options["output"] else None
        if path is not None and not path.parent.is_dir():
            raise CommandError(f"Cannot write {path}: the folder {path.parent} does not exist.")
        started = time.perf_counter()
        reports.record_report_export(actor=actor, report=report, filters=filters, fmt=fmt, channel="command")
        if path is not None:
            try:
                rows = reports.write_report(report=report, filters=filters, fmt=fmt, path=path)
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc.strerror}.") from None
        else:
            rows = 0
            for data_chunk, count in chunks(report, filters, fmt):
                sys.stdout.buffer.write(data_chunk)
                rows += count
            sys.stdout.buffer.flush()
        seconds = time.perf_counter() - started
        self.stderr.write(f"Wrote {rows:,} rows of {report.name} to {path or 'standard output'} in {seconds:.2f} s.")

    def _actor(self, username: str | None) -> Any:
        if username is None:
            return COMMAND_ACTOR
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"There is no active staff user {username!r}.")
        if not has_cap(user, Cap.EXPORT_REPORTS):
            raise CommandError(f"{username} may not export reports (their role lacks Export reports).")
        return user

    def _integration(self, value: str) -> str:
        found = Integration.objects.filter(name=value).values_list("pk", flat=True).first()
        if found is None and value.isdigit():
            found = Integration.objects.filter(pk=int(value)).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"There is no integration named {value!r}.")
        return str(found)
