"""The Celery app: `celery -A console worker` and `celery -A console beat`.

Tasks are written once with django.tasks; django-tasks-celery registers each
one with this app under its dotted path when the module that defines it is
imported (autodiscover_tasks imports every app's tasks.py).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_periodic_jobs(sender: Celery, **kwargs: object) -> None:
    from console.periodic import PERIODIC_JOBS

    sender.conf.beat_schedule = {
        job.name: {"task": "console.periodic.enqueue_periodic", "schedule": job.every, "args": (job.task_path,)}
        for job in PERIODIC_JOBS
    }


@app.task(name="console.periodic.enqueue_periodic")
def enqueue_periodic(task_path: str) -> str:
    from console.periodic import enqueue_periodic as enqueue

    return enqueue(task_path)
