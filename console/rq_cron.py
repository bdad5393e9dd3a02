"""RQ cron configuration: `python manage.py rqcron console.rq_cron`."""

from __future__ import annotations

from rq import cron

from console.periodic import PERIODIC_JOBS, enqueue_periodic

for job in PERIODIC_JOBS:
    cron.register(
        enqueue_periodic,
        queue_name="default",
        args=(job.task_path,),
        interval=int(job.every.total_seconds()),
        name=job.name,
    )
