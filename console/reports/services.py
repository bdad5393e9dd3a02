"""Every way a report leaves Docket, each one audited: streamed, written in the background, mailed.

- `stream_report`: the browser (small reports), the API and the command;
  the audit entry is written before the first byte.
- `request_export` / `run_export`: large reports become an `Export`, written
  to a file under DOCKET_EXPORT_DIR by a task that reports its progress, and
  downloaded by its owner until `sweep_exports` deletes it.
- `subscribe` / `send_scheduled_report`: a daily or weekly mail, once per period.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from console.access import has_cap
from console.audit import SYSTEM, record
from console.models import AuditVerb, Export, ExportState, ReportSubscription
from console.reports import Filters, Report, get_report
from console.reports.writers import CONTENT_TYPES, chunks, count_rows, stream
from console.roles import Cap

logger = logging.getLogger(__name__)

# A running export that has not reported progress for this long lost its worker: it may be run again.
STALE_AFTER = timedelta(minutes=10)
# Without a row step, progress is saved at most this often.
PROGRESS_SECONDS = 1.0
FILE_MODE = 0o640


# --- Streamed: browser, API, command ---------------------------------------------------

def _what(report: Report, filters: Filters, fmt: str, channel: str, **extra: Any) -> dict[str, Any]:
    return {"report": report.name, "filters": filters.as_json(), "format": fmt, "channel": channel, **extra}


@transaction.atomic
def record_report_export(*, actor: Any, report: Report, filters: Filters, fmt: str, channel: str) -> None:
    record(actor=actor, verb=AuditVerb.REPORT_EXPORTED, target=("report", report.name),
           after=_what(report, filters, fmt, channel))


def stream_report(*, actor: Any, report: Report, filters: Filters, fmt: str, channel: str) -> Iterator[bytes]:
    """Audit the export, then hand back its bytes as an iterator (nothing is read until it is consumed)."""
    record_report_export(actor=actor, report=report, filters=filters, fmt=fmt, channel=channel)
    return stream(report, filters, fmt)


def is_large(report: Report, filters: Filters) -> bool:
    """Whether the report has more rows than the browser gets streamed (counting stops just past the limit)."""
    limit = settings.DOCKET_EXPORT_STREAM_MAX_ROWS
    return count_rows(report, filters, limit=limit + 1) > limit


def write_report(
    *,
    report: Report,
    filters: Filters,
    fmt: str,
    path: Path,
    chunk_rows: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    rows_expected: int | None = None,
) -> int:
    """Write the report to `path` (through a `.part` file renamed at the end); return its row count.

    `on_chunk(rows_so_far)` is called after each chunk is written.
    """
    part = path.with_name(path.name + ".part")
    rows = 0
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            for data, count in chunks(report, filters, fmt, chunk_rows=chunk_rows, rows_expected=rows_expected):
                out.write(data)
                rows += count
                if on_chunk is not None and count:
                    out.flush()
                    on_chunk(rows)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return rows


# --- Background exports ------------------------------------------------------------------

def export_dir() -> Path:
    path = Path(settings.DOCKET_EXPORT_DIR)
    path.mkdir(mode=0o750, parents=True, exist_ok=True)
    return path


def export_path(export: Export) -> Path | None:
    if not export.file_name:
        return None
    return Path(settings.DOCKET_EXPORT_DIR) / export.file_name


@transaction.atomic
def request_export(*, actor: Any, report: Report, filters: Filters, fmt: str) -> Export:
    """A large report for `actor`: an Export row now, the file from a task once this commits."""
    from console.tasks import run_export as run_export_task

    export = Export.objects.create(
        requested_by=actor, report=report.name, filters=filters.as_json(), format=fmt, created_at=timezone.now()
    )
    record(actor=actor, verb=AuditVerb.EXPORT_REQUESTED, target=export, after=_what(report, filters, fmt, "background"))
    transaction.on_commit(partial(run_export_task.enqueue, export_id=export.pk))
    return export


class _Progress:
    """Saves rows_done while the export runs, where the page polling for it can see it.

    On PostgreSQL the export's own connection is busy with the COPY until the
    end, so progress goes through a second connection of its own.
    """

    def __init__(self, export_id: int, *, every_call: bool) -> None:
        self.export_id, self.every_call = export_id, every_call
        self.side = connections.create_connection(DEFAULT_DB_ALIAS) if connection.vendor == "postgresql" else None
        self.saved_at = 0.0

    def __call__(self, rows_done: int) -> None:
        import time

        now = time.monotonic()
        if not self.every_call and now - self.saved_at < PROGRESS_SECONDS:
            return
        self.saved_at = now
        if self.side is None:
            Export.objects.filter(pk=self.export_id).update(rows_done=rows_done, progress_at=timezone.now())
            return
        table = connection.ops.quote_name(Export._meta.db_table)
        with self.side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET rows_done = %s, progress_at = %s WHERE id = %s",  # noqa: S608 - the model's own table
                [rows_done, timezone.now(), self.export_id],
            )

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def run_export(
    *, export_id: int, progress_every: int | None = None, on_progress: Callable[[int], None] | None = None
) -> Export | None:
    """Write a requested export's file; None when it is not this call's to run (done, or running elsewhere).

    Safe to run twice: the export is claimed with a conditional UPDATE, and
    one whose worker stopped reporting progress for STALE_AFTER may be
    claimed again. `progress_every` saves progress every that many rows
    (otherwise about once a second); `on_progress(rows_done)` is called after
    each save.
    """
    now = timezone.now()
    claimed = (
        Export.objects.filter(pk=export_id)
        .filter(Q(state=ExportState.PENDING) | Q(state=ExportState.RUNNING, progress_at__lt=now - STALE_AFTER))
        .update(state=ExportState.RUNNING, started_at=now, progress_at=now, rows_done=0, error="")
    )
    if not claimed:
        return None
    export = Export.objects.get(pk=export_id)
    try:
        report, filters = get_report(export.report), Filters.from_json(export.filters)
        total = count_rows(report, filters)
        Export.objects.filter(pk=export_id).update(rows_total=total)
        name = f"{export.pk}-{secrets.token_hex(8)}.{export.format}"
        progress = _Progress(export_id, every_call=progress_every is not None)

        def on_chunk(rows_done: int) -> None:
            progress(rows_done)
            if on_progress is not None:
                on_progress(rows_done)

        try:
            rows = write_report(report=report, filters=filters, fmt=export.format, path=export_dir() / name,
                                chunk_rows=progress_every, on_chunk=on_chunk, rows_expected=total)
        finally:
            progress.close()
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        return _fail_export(export_id=export_id, problem=f"{type(exc).__name__}: {exc}")
    return _finish_export(export_id=export_id, file_name=name, rows=rows)


@transaction.atomic
def _finish_export(*, export_id: int, file_name: str, rows: int) -> Export:
    export = Export.objects.select_for_update().get(pk=export_id)
    now = timezone.now()
    export.state, export.file_name = ExportState.DONE, file_name
    export.rows_done = export.rows_total = rows
    export.size_bytes = (Path(settings.DOCKET_EXPORT_DIR) / file_name).stat().st_size
    export.finished_at = export.progress_at = now
    export.expires_at = now + timedelta(hours=settings.DOCKET_EXPORT_KEEP_HOURS)
    export.save()
    record(actor=SYSTEM, verb=AuditVerb.EXPORT_COMPLETED, target=export,
           after={"rows": rows, "bytes": export.size_bytes, "expires_at": export.expires_at.isoformat()})
    return export


@transaction.atomic
def _fail_export(*, export_id: int, problem: str) -> Export:
    export = Export.objects.select_for_update().get(pk=export_id)
    export.state, export.error, export.finished_at = ExportState.FAILED, problem[:500], timezone.now()
    export.save(update_fields=["state", "error", "finished_at"])
    record(actor=SYSTEM, verb=AuditVerb.EXPORT_FAILED, target=export, after={"error": export.error})
    return export


@transaction.atomic
def record_download(*, actor: Any, export: Export) -> None:
    record(actor=actor, verb=AuditVerb.EXPORT_DOWNLOADED, target=export,
           after={"report": export.report, "filters": export.filters, "format": export.format,
                  "rows": export.rows_done})


def sweep_exports(*, now: datetime | None = None) -> int:
    """The periodic job: delete files past their keep time, run again exports that lost their worker.

    Returns how many files were deleted.
    """
    from console.tasks import run_export as run_export_task

    now = now or timezone.now()
    expired = 0
    for export_id in Export.objects.filter(state=ExportState.DONE, expires_at__lte=now).values_list("pk", flat=True):
        expired += _expire_export(export_id=export_id, now=now)
    stale = Export.objects.filter(
        Q(state=ExportState.PENDING, created_at__lt=now - STALE_AFTER)
        | Q(state=ExportState.RUNNING, progress_at__lt=now - STALE_AFTER)
    ).values_list("pk", flat=True)
    for export_id in stale:
        run_export_task.enqueue(export_id=export_id)
    _remove_orphaned_parts(now)
    return expired


@transaction.atomic
def _expire_export(*, export_id: int, now: datetime) -> int:
    export = Export.objects.select_for_update().filter(pk=export_id, state=ExportState.DONE).first()
    if export is None:
        return 0
    path = export_path(export)
    if path is not None:
        path.unlink(missing_ok=True)
    export.state, export.file_name = ExportState.EXPIRED, ""
    export.save(update_fields=["state", "file_name"])
    record(actor=SYSTEM, verb=AuditVerb.EXPORT_EXPIRED, target=export,
           after={"kept_until": export.expires_at.isoformat() if export.expires_at else None})
    return 1


def _remove_orphaned_parts(now: datetime) -> None:
    # A worker killed mid-write leaves its .part file; a run again writes a new one.
    directory = Path(settings.DOCKET_EXPORT_DIR)
    if not directory.is_dir():
        return
    cutoff = (now - timedelta(hours=settings.DOCKET_EXPORT_KEEP_HOURS)).timestamp()
    for part in directory.glob("*.part"):
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)


# --- Scheduled reports --------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    key: str
    date_from: date
    date_to: date

    @property
    def label(self) -> str:
        return str(self.date_from) if self.date_from == self.date_to else f"{self.date_from} to {self.date_to}"


def last_complete_period(frequency: str, now: datetime) -> Period:
    """The day (or Monday-to-Sunday week) that ended most recently, in UTC."""
    today = now.astimezone(UTC).date()
    if frequency == ReportSubscription.Frequency.DAILY:
        day = today - timedelta(days=1)
        return Period(day.isoformat(), day, day)
    monday = today - timedelta(days=today.weekday())
    start = monday - timedelta(days=7)
    year, week, _ = start.isocalendar()
    return Period(f"{year}-W{week:02d}", start, monday - timedelta(days=1))


@transaction.atomic
def subscribe(
    *, actor: Any, report: Report, filters: Filters, fmt: str, frequency: str, delivery: str
) -> ReportSubscription:
    """Mail `report` to `actor` every day or week, starting with the period after the current one."""
    now = timezone.now()
    subscription = ReportSubscription.objects.create(
        user=actor, report=report.name, filters=filters.as_json(), format=fmt, frequency=frequency,
        delivery=delivery, created_at=now,
        # The period that just ended is not sent: the first mail covers the day (or week) under way.
        last_period=last_complete_period(frequency, now).key,
    )
    record(actor=actor, verb=AuditVerb.SUBSCRIPTION_CREATED, target=subscription,
           after={"report": report.name, "filters": subscription.filters, "format": fmt, "frequency": frequency,
                  "delivery": delivery, "email": actor.email})
    return subscription


@transaction.atomic
def unsubscribe(*, actor: Any, subscription: ReportSubscription) -> None:
    before = {"report": subscription.report, "filters": subscription.filters, "format": subscription.format,
              "frequency": subscription.frequency, "delivery": subscription.delivery}
    record(actor=actor, verb=AuditVerb.SUBSCRIPTION_DELETED, target=subscription, before=before)
    subscription.delete()


def enqueue_due_reports(*, now: datetime | None = None) -> int:
    """The periodic job: a task for each subscription whose last complete period has not been mailed."""
    from console.tasks import send_scheduled_report as send_task

    now = now or timezone.now()
    due = 0
    for frequency in ReportSubscription.Frequency.values:
        period = last_complete_period(frequency, now)
        ids = ReportSubscription.objects.filter(frequency=frequency, last_period__lt=period.key).values_list(
            "pk", flat=True
        )
        for subscription_id in ids:
            send_task.enqueue(subscription_id=subscription_id, period=period.key)
            due += 1
    return due


def send_scheduled_report(*, subscription_id: int, period_key: str, now: datetime | None = None) -> bool:
    """Mail one period of a subscription; False when it was mailed already (or is not due, or not allowed).

    The period is claimed first with a conditional UPDATE, so two runs mail it
    once; if writing or sending fails, the claim is given back for the next sweep.
    """
    now = now or timezone.now()
    subscription = ReportSubscription.objects.select_related("user").filter(pk=subscription_id).first()
    if subscription is None:
        return False
    period = last_complete_period(subscription.frequency, now)
    if period.key != period_key:
        return False  # an old task: the sweep enqueues the current period itself
    user = subscription.user
    if not (user.is_active and user.email and has_cap(user, Cap.EXPORT_REPORTS)):
        logger.warning("report subscription %s not sent: its user cannot receive reports now", subscription_id)
        return False
    previous = subscription.last_period
    claimed = ReportSubscription.objects.filter(pk=subscription_id, last_period__lt=period.key).update(
        last_period=period.key
    )
    if not claimed:
        return False
    try:
        _mail_period(subscription, period)
    except Exception:
        ReportSubscription.objects.filter(pk=subscription_id, last_period=period.key).update(last_period=previous)
        raise
    return True


def _mail_period(subscription: ReportSubscription, period: Period) -> None:
    report = get_report(subscription.report)
    filters = Filters.from_json(subscription.filters).with_dates(period.date_from, period.date_to)
    with transaction.atomic():
        export = Export.objects.create(
            requested_by=subscription.user, report=report.name, filters=filters.as_json(), format=subscription.format,
            subscription=subscription, created_at=timezone.now(),
        )
        record(actor=SYSTEM, verb=AuditVerb.EXPORT_REQUESTED, target=export,
               after=_what(report, filters, subscription.format, "scheduled", subscription=subscription.pk,
                           owner=subscription.user.get_username()))
    done = run_export(export_id=export.pk)
    if done is None or done.state != ExportState.DONE:
        raise RuntimeError(f"the export for subscription {subscription.pk} did not finish: {done and done.error}")
    path = export_path(done)
    assert path is not None
    attach = (subscription.delivery == ReportSubscription.Delivery.ATTACHMENT
              and (done.size_bytes or 0) <= settings.DOCKET_EXPORT_MAIL_MAX_BYTES)
    link = settings.DOCKET_BASE_URL + reverse("console:export_download", kwargs={"pk": done.pk})
    lines = [
        f"{report.title} for {period.label} (UTC), {filters.describe()}: {done.rows_done:,} rows.",
        "",
    ]
    if attach:
        lines.append(f"The file is attached ({subscription.get_format_display()}).")
    else:
        if subscription.delivery == ReportSubscription.Delivery.ATTACHMENT:
            lines.append(f"The file is too large to attach ({done.size_bytes:,} bytes).")
        lines.append(f"Download it (sign-in needed) until {done.expires_at:%Y-%m-%d %H:%M} UTC: {link}")
    lines += ["", "You get this mail because you subscribed to it on Docket's Exports page; unsubscribe there."]
    message = EmailMessage(
        subject=f"Docket: {report.title}, {period.label}", body="\n".join(lines), to=[subscription.user.email]
    )
    if attach:
        message.attach(report.file_name(filters, done.format), path.read_bytes(),
                       CONTENT_TYPES[done.format].split(";")[0])
    message.send()
    with transaction.atomic():
        ReportSubscription.objects.filter(pk=subscription.pk).update(last_sent_at=timezone.now())
        record(actor=SYSTEM, verb=AuditVerb.REPORT_MAILED, target=subscription,
               after={"to": subscription.user.get_username(), "report": report.name, "period": period.key,
                      "filters": filters.as_json(), "format": done.format, "rows": done.rows_done,
                      "delivery": "attachment" if attach else "link", "export": done.pk})
