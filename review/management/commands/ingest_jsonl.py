from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from review.models import Integration
from review.services import ingest_flags

CHUNK = 500


class Command(BaseCommand):
    help = (
        "Backfill: stream a JSON Lines file of flag objects (the API's format) through the same path "
        "as POST /api/v1/flags. Exits 1, listing them, if any line was rejected."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path to a .jsonl file, or - for standard input.")
        parser.add_argument("--integration", required=True, help="The integration's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        integration = Integration.objects.filter(name=options["integration"]).first()
        if integration is None:
            raise CommandError(f"No integration named {options['integration']!r}.")
        path = options["file"]
        if path != "-" and not Path(path).is_file():
            raise CommandError(f"No such file: {path}")
        stream: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="strict")  # noqa: SIM115
        totals: Counter[str] = Counter()
        rejected: list[str] = []
        started = time.monotonic()
        try:
            for chunk in _chunks(stream, rejected):
                line_numbers = [n for n, _ in chunk]
                outcomes = ingest_flags(integration=integration, payloads=[p for _, p in chunk])
                for line, outcome in zip(line_numbers, outcomes, strict=True):
                    totals[outcome.status] += 1
                    if outcome.status == "rejected":
                        problems = "; ".join(f"{e['field']}: {e['message']}" for e in outcome.errors)
                        rejected.append(f"line {line} (id {outcome.id!r}): {problems}")
                self._progress(totals, len(rejected) - totals["rejected"], started)
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not valid UTF-8 (byte {exc.start}); nothing after that was read.") from None
        finally:
            if stream is not sys.stdin:
                stream.close()
        unreadable = len(rejected) - totals["rejected"]
        self.stderr.write("")
        self.stdout.write(
            f"created {totals['created']}, duplicate {totals['duplicate']}, rejected {totals['rejected'] + unreadable}"
        )
        if rejected:
            for problem in rejected[:200]:
                self.stderr.write(f"  {problem}")
            if len(rejected) > 200:
                self.stderr.write(f"  … and {len(rejected) - 200} more")
            raise CommandError(f"{len(rejected)} line(s) were rejected.")

    def _progress(self, totals: Counter[str], unreadable: int, started: float) -> None:
        done = sum(totals.values()) + unreadable
        rate = done / max(time.monotonic() - started, 1e-6)
        self.stderr.write(
            f"\r  {done:>10,} lines  {rate:>8,.0f}/s  "
            f"created {totals['created']:,} duplicate {totals['duplicate']:,} "
            f"rejected {totals['rejected'] + unreadable:,}",
            ending="",
        )
        self.stderr.flush()


def _chunks(stream: TextIO, rejected: list[str]) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            chunk.append((number, json.loads(line)))
        except (ValueError, RecursionError) as exc:
            rejected.append(f"line {number}: not valid JSON ({str(exc)[:80]})")
            continue
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
