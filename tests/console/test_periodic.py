"""Periodic jobs are declared once, in console.periodic.PERIODIC_JOBS, and both
schedulers (RQ's cron and Celery beat) take them from there."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.tasks import Task
from django.utils.module_loading import import_string
from django_rq.cron import DjangoCronScheduler
from django_tasks_rq import Job as RQTaskJob
from rq.cron import CronJob

from console.celery import app as celery_app
from console.models import Heartbeat
from console.periodic import PERIODIC_JOBS, enqueue_periodic

BEAT_TASK = "console.periodic.enqueue_periodic"


def _rq_cron_jobs() -> dict[str, CronJob]:
    # What `manage.py rqcron console.rq_cron` does before it starts: import the
    # module into rq's cron registry and register what it declared.
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("console.rq_cron")
    return {cron_job.name: cron_job for cron_job in scheduler.get_jobs()}


def test_every_periodic_job_names_a_task_and_a_name_of_its_own() -> None:
    assert PERIODIC_JOBS
    for job in PERIODIC_JOBS:
        assert isinstance(import_string(job.task_path), Task), job.task_path
        # RQ's cron counts whole seconds.
        assert job.every >= timedelta(seconds=1)
        assert job.every.total_seconds() == int(job.every.total_seconds())
    # Both schedulers key their entries by name: a duplicate would silently replace one.
    assert len({job.name for job in PERIODIC_JOBS}) == len(PERIODIC_JOBS)


def test_celery_beat_schedules_every_periodic_job_at_its_interval() -> None:
    celery_app.finalize()

    assert celery_app.conf.beat_schedule == {
        job.name: {"task": BEAT_TASK, "schedule": job.every, "args": (job.task_path,)} for job in PERIODIC_JOBS
    }
    assert BEAT_TASK in celery_app.tasks


def test_the_task_celery_beat_sends_enqueues_the_declared_job(db: None) -> None:
    celery_app.finalize()
    entry = celery_app.conf.beat_schedule["heartbeat"]

    # What a worker does with the message beat sends, run here in-process.
    outcome = celery_app.tasks[entry["task"]].apply(args=entry["args"])

    assert outcome.successful(), outcome.traceback
    assert list(Heartbeat.objects.values_list("name", "runs")) == [("worker", 1)]


def test_rq_cron_registers_every_periodic_job_at_its_interval() -> None:
    cron_jobs = _rq_cron_jobs()

    assert {name: (cron.interval, cron.args, cron.queue_name) for name, cron in cron_jobs.items()} == {
        job.name: (int(job.every.total_seconds()), (job.task_path,), "default") for job in PERIODIC_JOBS
    }


def test_rq_cron_queues_a_task_that_the_django_tasks_rq_worker_accepts() -> None:
    # `rqworker --job-class django_tasks_rq.Job` refuses a job whose function
    # is not a django.tasks Task, and reads the backend from the job's meta.
    for cron_job in _rq_cron_jobs().values():
        rq_job = RQTaskJob.create(
            cron_job.func, args=cron_job.args, meta=cron_job.job_options.get("meta"), connection=redis.Redis()
        )

        assert isinstance(rq_job.func, Task)
        assert rq_job.func.module_path == "console.tasks.enqueue_periodic_job"
        assert rq_job.meta == {"backend_name": "default"}


@pytest.mark.parametrize("path", ["console.tasks.enqueue_periodic_job", "os.system", "console.tasks.heartbeat "])
def test_enqueue_periodic_refuses_a_path_that_is_not_declared(db: None, path: str) -> None:
    with pytest.raises(ValueError, match="is not a declared periodic job"):
        enqueue_periodic(path)

    assert not Heartbeat.objects.exists()


def test_enqueue_periodic_runs_the_heartbeat_on_the_immediate_backend(db: None) -> None:
    result_id = enqueue_periodic("console.tasks.heartbeat")

    assert isinstance(result_id, str)
    assert list(Heartbeat.objects.values_list("name", "runs")) == [("worker", 1)]

    enqueue_periodic("console.tasks.heartbeat")

    assert list(Heartbeat.objects.values_list("name", "runs")) == [("worker", 2)]
