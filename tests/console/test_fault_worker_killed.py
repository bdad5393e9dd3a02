"""An RQ worker killed (SIGKILL) in the middle of a batch: nothing lost, nothing done twice that must not be.

The batch interleaves two kinds of task whose repetition would matter:
`evaluate_account` (a rule must propose one action per piece of evidence,
however often it runs) and `deliver_webhook` (a delivery is sent until one
attempt succeeds, and never after). The receiver holds one delivery open;
the worker is killed while it waits for the answer.

RQ does not run a killed worker's job again: when its entry in the started
registry expires, `StartedJobRegistry.cleanup` moves it to the failed
registry (AbandonedJobError), since Docket's tasks have no RQ retries.
What recovers the work is Docket's own state: the delivery row is still
pending, so the periodic sweep (`deliver_due_webhooks`) sends it once its
claim has run out; and `evaluate_recent_accounts` evaluates every account
with recent violations again, which proposes nothing twice.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks_rq import Job
from pytest_django import Settings
from rq.registry import FailedJobRegistry, StartedJobRegistry

from accounts.models import (
    Action,
    ActionKind,
    DeliveryState,
    EnforcementRule,
    RuleKind,
    WebhookAttempt,
    WebhookDelivery,
)
from accounts.services import apply_action, approve_action, create_endpoint, propose_action
from accounts.services.webhooks import LOCK
from console.audit import verify_chain
from console.models import AuditEntry, AuditVerb
from console.periodic import enqueue_periodic
from review.models import Category, Outcome
from tests.factories import make_case, make_decision
from tests.servers import (
    RedisServer,
    WebhookReceiver,
    app_env,
    manage,
    shared_test_database_url,
    spawn,
)

PAIRS = 10  # accounts with a violation to evaluate, and accounts with an action to announce
KILL_AT = 4  # the receiver holds the 4th delivery; the worker dies waiting for it
WORKER = ["rqworker", "default", "--job-class", "django_tasks_rq.Job"]
DEADLINE = 60.0


def use_rq(settings: Settings, redis_url: str) -> None:
    settings.RQ_QUEUES = {"default": {"URL": redis_url, "DEFAULT_TIMEOUT": 60}}
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # Applying an action publishes its status on commit: into a cache of this test's own.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


@pytest.mark.postgres
def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(
    transactional_db: None,
    settings: Settings,
    redis_server: RedisServer,
    webhook_receiver: WebhookReceiver,
    integration: Any,
    reviewer: Any,
    senior: Any,
    ops: Any,
    tmp_path: Path,
) -> None:
    use_rq(settings, redis_server.url())
    queue = redis_server.client()
    EnforcementRule.objects.create(name="Any violation warns", kind=RuleKind.ANY, action_kind=ActionKind.WARN)
    endpoint, secret = create_endpoint(actor=ops, integration=integration, url=webhook_receiver.url, events=[])
    hate = Category.objects.get(pk="hate")

    # The batch, enqueued on commit as the services do: evaluate, deliver, evaluate, deliver …
    for i in range(PAIRS):
        case = make_case(integration, user=f"violator-{i}", prompt=f"threat {i}")
        make_decision(case, reviewer, outcome=Outcome.VIOLATING, category=hate, severity="high")
        account = make_case(integration, user=f"warned-{i}", prompt=f"spam {i}").account
        action = propose_action(actor=senior, account=account, kind=ActionKind.WARN, reason="spam")
        approve_action(actor=senior, action=action, reason="agreed")
        apply_action(actor=senior, action=action, reason="go")
    assert queue.llen("rq:queue:default") == 2 * PAIRS
    assert not Action.objects.filter(rule__isnull=False).exists()  # nothing evaluated yet

    env = app_env(database_url=shared_test_database_url(), redis_url=redis_server.url(), backend="rq")
    webhook_receiver.hold(KILL_AT)
    with spawn("rqworker", [*manage(*WORKER), "--name", "doomed"], env=env, log=tmp_path / "w1.log") as doomed:
        if not webhook_receiver.held.wait(DEADLINE):
            pytest.fail(f"the worker never reached delivery {KILL_AT}:\n{doomed.tail()}")
        doomed.kill()
    webhook_receiver.release()

    # What the kill left: the deliveries before the held one sent, the held one claimed but unrecorded.
    delivered = WebhookDelivery.objects.filter(state=DeliveryState.DELIVERED)
    assert delivered.count() == KILL_AT - 1
    in_flight = WebhookDelivery.objects.get(pk=int(webhook_receiver.received[-1].delivery_id))
    assert (in_flight.state, in_flight.attempts) == (DeliveryState.PENDING, 0)
    assert in_flight.locked_until is not None and in_flight.locked_until > timezone.now()
    started = StartedJobRegistry("default", connection=queue, job_class=Job)
    assert len(started.get_job_ids()) == 1, "the killed worker's job is left in RQ's started registry"

    # A minute later: RQ's cleanup gives up on the abandoned job (it will not run again) …
    started.cleanup(timestamp=time.time() + 3600)
    assert len(FailedJobRegistry("default", connection=queue).get_job_ids()) == 1
    assert queue.llen("rq:queue:default") == 2 * PAIRS - 2 * KILL_AT  # the rest of the batch, untouched
    # … the claim of the killed send has run out …
    WebhookDelivery.objects.filter(pk=in_flight.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert timedelta(minutes=1) >= LOCK
    # … and the scheduler has put the periodic sweeps behind the rest of the batch.
    enqueue_periodic("accounts.tasks.deliver_due_webhooks")
    enqueue_periodic("accounts.tasks.evaluate_recent_accounts")

    # A new worker takes over.
    with spawn("rqworker", [*manage(*WORKER, "--burst")], env=env, log=tmp_path / "w2.log") as worker:
        try:
            worker.popen.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the second worker did not finish:\n{worker.tail()}")
        assert worker.popen.returncode == 0, worker.tail()
    assert queue.llen("rq:queue:default") == 0
    assert len(FailedJobRegistry("default", connection=queue).get_job_ids()) == 1, (tmp_path / "w2.log").read_text()

    # Nothing lost: every delivery delivered, each with exactly one successful attempt recorded.
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert deliveries.count() == PAIRS
    assert set(deliveries.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    successes = Counter(
        WebhookAttempt.objects.filter(status__gte=200, status__lt=300).values_list("delivery_id", flat=True)
    )
    assert successes == dict.fromkeys(deliveries.values_list("pk", flat=True), 1)
    # The receiver saw every event; only the one cut off by the kill twice (at-least-once: it dedupes on the id).
    seen = Counter(webhook_receiver.event_ids())
    assert set(seen) == {str(pk) for pk in deliveries.values_list("event_id", flat=True)}
    assert seen == {**dict.fromkeys(seen, 1), str(in_flight.event_id): 2}
    assert webhook_receiver.signed_by(secret)
    assert json.loads(webhook_receiver.received[0].body)["type"] == "action.applied"

    # Nothing done twice: each violator evaluated at least twice (its task, then the sweep), warned once.
    proposals = Counter(Action.objects.filter(rule__isnull=False).values_list("account__user_hash", flat=True))
    assert len(proposals) == PAIRS and set(proposals.values()) == {1}
    proposed = AuditEntry.objects.filter(verb=AuditVerb.ACTION_PROPOSED, actor_type="system").count()
    assert proposed == PAIRS
    assert verify_chain()[1] is None
    connection.close()
