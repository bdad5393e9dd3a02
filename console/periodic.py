"""Periodic jobs, declared once for both schedulers.

RQ runs them through `manage.py rqcron console.rq_cron`, Celery through
`celery -A console beat`; both end up calling `Task.enqueue()`, so the job
itself runs on whichever backend DOCKET_TASK_BACKEND names.
Later issues append to PERIODIC_JOBS.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.tasks import Task
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PeriodicJob:
    task_path: str  # dotted path of a django.tasks Task
    every: timedelta

    @property
    def name(self) -> str:
        return self.task_path.rsplit(".", 1)[-1]


PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("console.tasks.heartbeat", timedelta(minutes=1)),
    PeriodicJob("review.tasks.expire_case_leases", timedelta(minutes=1)),
    PeriodicJob("accounts.tasks.deliver_due_webhooks", timedelta(minutes=1)),
    PeriodicJob("accounts.tasks.expire_due_actions", timedelta(minutes=1)),
    PeriodicJob("accounts.tasks.publish_dirty_statuses", timedelta(minutes=1)),
    PeriodicJob("accounts.tasks.sweep_violation_windows", timedelta(minutes=5)),
    PeriodicJob("accounts.tasks.evaluate_recent_accounts", timedelta(hours=1)),
    PeriodicJob("review.tasks.apply_text_retention", timedelta(hours=1)),
    PeriodicJob("review.tasks.roll_up_calibration", timedelta(hours=1)),
    PeriodicJob("console.tasks.aggregate_hourly_counts", timedelta(minutes=5)),
    # Exports: expired files out, stalled exports again; scheduled report mails.
    PeriodicJob("console.tasks.sweep_exports", timedelta(minutes=15)),
    PeriodicJob("console.tasks.enqueue_due_reports", timedelta(minutes=15)),
]


def enqueue_periodic(task_path: str) -> str:
    """What a scheduler calls: enqueue the named task on the configured backend."""
    if task_path not in {job.task_path for job in PERIODIC_JOBS}:
        raise ValueError(f"{task_path} is not a declared periodic job")
    job: Task = import_string(task_path)
    return job.enqueue().id
