"""RQ cron configuration: `python manage.py rqcron console.rq_cron`."""

from __future__ import annotations

from rq import cron

from console.periodic import PERIODIC_JOBS
from console.tasks import enqueue_periodic_job

for job in PERIODIC_JOBS:
    cron.register(
        # RQ's cron takes a function and stores its dotted path; the worker's
        # django_tasks_rq.Job imports that path back and insists on a Task.
        # For a @task function the path names the Task itself, so give the
        # cron the Task's function, plus the backend name that Job reads from
        # the job's meta. A plain function here fails on every run.
        enqueue_periodic_job.func,
        queue_name=enqueue_periodic_job.queue_name,
        args=(job.task_path,),
        interval=int(job.every.total_seconds()),
        name=job.name,
        meta={"backend_name": enqueue_periodic_job.backend},
    )
