from __future__ import annotations

from django.db.models import F
from django.tasks import task
from django.utils import timezone

from console.models import Heartbeat
from console.periodic import enqueue_periodic
from console.reports import services as reports


@task
def heartbeat(name: str = "worker") -> None:
    """Prove a worker is alive; running it twice only moves the time forward."""
    updated = Heartbeat.objects.filter(name=name).update(beat_at=timezone.now(), runs=F("runs") + 1)
    if not updated:
        Heartbeat.objects.get_or_create(name=name, defaults={"beat_at": timezone.now(), "runs": 1})


@task
def aggregate_hourly_counts() -> int:
    """Bring the dashboard's hourly counts up to date; a re-count, so running it twice changes nothing."""
    from console.aggregates import refresh_recent

    return refresh_recent()


@task
def enqueue_periodic_job(task_path: str) -> str:
    """What RQ's cron puts on the queue (see console.rq_cron).

    An RQ worker started with `--job-class django_tasks_rq.Job` runs only
    django.tasks Tasks and refuses a plain function, so the cron enqueues this
    Task, which hands the declared job to the configured backend.
    """
    return enqueue_periodic(task_path)


# --- Exports and scheduled reports (console/reports/services.py) --------------------


@task
def run_export(export_id: int) -> str:
    """Write a requested background export; a second run finds it claimed and does nothing."""
    export = reports.run_export(export_id=export_id)
    return export.state if export is not None else "not claimed"


@task
def sweep_exports() -> int:
    """Delete export files past DOCKET_EXPORT_KEEP_HOURS; run again exports whose worker vanished."""
    return reports.sweep_exports()


@task
def enqueue_due_reports() -> int:
    """Enqueue the mail of every report subscription whose last day or week has not been sent."""
    return reports.enqueue_due_reports()


@task
def send_scheduled_report(subscription_id: int, period: str) -> bool:
    return reports.send_scheduled_report(subscription_id=subscription_id, period_key=period)
