"""The hourly counts: a re-count from the raw tables that matches a hand-made history and is safe to repeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from accounts.models import ActionKind, WebhookAttempt, WebhookDelivery, WebhookEvent
from accounts.services import apply_action, approve_action, lift_action, propose_action
from accounts.services.webhooks import create_endpoint
from console import aggregates
from console.models import Heartbeat, HourlyCount, Metric
from review.models import Case, Category, Decision, Outcome, Severity
from review.services import Verdict, correct_decision, ingest_flags, record_decision
from tests.factories import flag_payload, hold, make_decision, make_integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
H10, H11, H12 = DAY.replace(hour=10), DAY.replace(hour=11), DAY.replace(hour=12)
HIGH_HATE = {"signals": [{"category": "hate", "level": "high"}]}
BELOW = {"signals": [{"category": "violence", "level": "low"}]}


def stored(*metrics: str) -> dict[tuple[str, datetime, str, str], int]:
    rows = HourlyCount.objects.filter(metric__in=metrics) if metrics else HourlyCount.objects.all()
    return {(r.metric, r.hour.astimezone(UTC), r.key, r.subkey): r.value for r in rows}


@pytest.fixture
def history(reviewer, senior, second_senior):  # type: ignore[no-untyped-def]
    """Two hours of work, every kind of row the counts read, at known moments.

    10:15  three flags: two queued (hate, high), one below the violence threshold
    10:30  rita: case 1 violating (hate, high), held 40 s
    10:50  sam proposes a warning on case 1's account; sasha approves and applies it
    10:05, 10:06  a webhook attempt delivered (200), one failed (500)
    11:05  rita: case 2 not violating, held 25 s
    11:20  sam lifts the warning: the account is active again
    11:40  one more flag, queued (hate, high)
    11:41  a webhook attempt with no answer
    12:10  sam corrects case 1 to not violating: its violation is voided
    """
    integration = make_integration()
    hate = Category.objects.get(slug="hate")
    with freeze_time(H10 + timedelta(minutes=15)):
        outcomes = ingest_flags(
            integration=integration,
            payloads=[
                flag_payload(user="u1", prompt="one", result=HIGH_HATE),
                flag_payload(user="u2", prompt="two", result=HIGH_HATE),
                flag_payload(user="u3", prompt="three", result=BELOW),
            ],
        )
    cases = [o.case for o in outcomes]
    assert cases[2] is None
    first, second = Case.objects.get(pk=cases[0]), Case.objects.get(pk=cases[1])
    with freeze_time(H10 + timedelta(minutes=29, seconds=20)) as clock:
        held = hold(first, reviewer)
        clock.move_to(H10 + timedelta(minutes=30))
        decision = record_decision(
            actor=reviewer, case=held, verdict=Verdict(outcome=Outcome.VIOLATING, category=hate, severity=Severity.HIGH)
        )
    with freeze_time(H10 + timedelta(minutes=50)):
        action = propose_action(actor=senior, account=first.account, kind=ActionKind.WARN, reason="test")
        approve_action(actor=second_senior, action=action, reason="ok")
        apply_action(actor=second_senior, action=action, reason="ok")
    endpoint, _ = create_endpoint(actor=None, integration=integration, url="https://example.com/hook", events=[])
    event = WebhookEvent.objects.create(integration=integration, type="action.applied", payload={}, created_at=H10)
    delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=H10)
    for at, status, error in [(H10.replace(minute=5), 200, ""), (H10.replace(minute=6), 500, "HTTP 500")]:
        WebhookAttempt.objects.create(delivery=delivery, at=at, status=status, error=error, duration_ms=10)
    with freeze_time(H11 + timedelta(minutes=4, seconds=35)) as clock:
        held = hold(second, reviewer)
        clock.move_to(H11 + timedelta(minutes=5))
        record_decision(actor=reviewer, case=held, verdict=Verdict(outcome=Outcome.NOT_VIOLATING))
    with freeze_time(H11 + timedelta(minutes=20)):
        lift_action(actor=senior, action=action, reason="compromised account")
    with freeze_time(H11 + timedelta(minutes=40)):
        ingest_flags(integration=integration, payloads=[flag_payload(user="u4", prompt="four", result=HIGH_HATE)])
    WebhookAttempt.objects.create(
        delivery=delivery, at=H11.replace(minute=41), status=None, error="timeout", duration_ms=5
    )
    with freeze_time(H12 + timedelta(minutes=10)):
        correct_decision(
            actor=senior, decision=decision, verdict=Verdict(outcome=Outcome.NOT_VIOLATING), reason="quote"
        )
    return {"rita": str(reviewer.pk), "sam": str(senior.pk)}


EXPECTED_BEFORE_CORRECTION = {
    (Metric.FLAGS, H10, "queued", ""): 2,
    (Metric.FLAGS, H10, "below", ""): 1,
    (Metric.FLAGS, H11, "queued", ""): 1,
    (Metric.DECISIONS, H10, "violating", ""): 1,
    (Metric.DECISIONS, H11, "not_violating", ""): 1,
    (Metric.ACCOUNT_STATES, H10, "warned", ""): 1,
    (Metric.ACCOUNT_STATES, H11, "active", ""): 1,
    (Metric.WEBHOOK_ATTEMPTS, H10, "delivered", ""): 1,
    (Metric.WEBHOOK_ATTEMPTS, H10, "failed", ""): 1,
    (Metric.WEBHOOK_ATTEMPTS, H11, "failed", ""): 1,
}


def test_it_counts_every_metric_of_a_hand_made_history(history) -> None:
    written = aggregates.refresh(start=H10, end=H12 + timedelta(hours=1))

    rita, sam = history["rita"], history["sam"]
    expected = {
        **EXPECTED_BEFORE_CORRECTION,
        (Metric.DECISIONS, H12, "not_violating", ""): 1,  # the correction is a decision too
        # Case 1's first verdict was superseded and its violation voided: its standing verdict is the correction's.
        (Metric.VERDICTS, H11, "hate", "not_violating"): 1,
        (Metric.VERDICTS, H12, "hate", "not_violating"): 1,
        (Metric.REVIEWER_DECISIONS, H10, rita, ""): 1,
        (Metric.REVIEWER_DECISIONS, H11, rita, ""): 1,
        (Metric.REVIEWER_DECISIONS, H12, sam, ""): 1,
        (Metric.REVIEWER_TIMED, H10, rita, ""): 1,
        (Metric.REVIEWER_TIMED, H11, rita, ""): 1,
        (Metric.REVIEWER_SECONDS, H10, rita, ""): 40,
        (Metric.REVIEWER_SECONDS, H11, rita, ""): 25,
    }
    assert stored() == expected
    assert written == len(expected)


def test_running_it_twice_changes_nothing(history) -> None:
    aggregates.refresh(start=H10, end=H12 + timedelta(hours=1))
    first = {(r.pk, r.value) for r in HourlyCount.objects.all()}

    assert aggregates.refresh(start=H10, end=H12 + timedelta(hours=1)) == 0
    assert {(r.pk, r.value) for r in HourlyCount.objects.all()} == first


def test_a_violating_decision_counts_a_violation_and_a_violating_verdict_of_its_category(reviewer) -> None:
    hate = Category.objects.get(slug="hate")
    with freeze_time(H10):
        make_decision(reviewer=reviewer, outcome=Outcome.VIOLATING, category=hate, severity=Severity.HIGH)
    aggregates.refresh(start=H10, end=H11)
    assert stored(Metric.VIOLATIONS, Metric.VERDICTS) == {
        (Metric.VIOLATIONS, H10, "hate", ""): 1,
        (Metric.VERDICTS, H10, "hate", "violating"): 1,
    }


def test_refresh_recent_recounts_the_hour_of_a_decision_corrected_since_the_last_run(reviewer, senior) -> None:
    hate = Category.objects.get(slug="hate")
    then = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with freeze_time(then):
        decision = make_decision(reviewer=reviewer, outcome=Outcome.VIOLATING, category=hate, severity=Severity.HIGH)
    with freeze_time(then + timedelta(hours=1)):
        aggregates.refresh(start=then - timedelta(hours=1), end=then + timedelta(hours=1))
        aggregates.mark_up_to_date(then + timedelta(hours=1))
    nine = then.replace(minute=0)
    assert stored(Metric.VIOLATIONS) == {(Metric.VIOLATIONS, nine, "hate", ""): 1}

    later = then + timedelta(days=2)
    with freeze_time(later):
        correct_decision(actor=senior, decision=decision, verdict=Verdict(outcome=Outcome.NOT_VIOLATING), reason="r")
        aggregates.refresh_recent()

    # The periodic run covered only the last hours, plus the corrected decision's hour two days back.
    assert stored(Metric.VIOLATIONS) == {}
    assert stored(Metric.VERDICTS) == {(Metric.VERDICTS, later.replace(minute=0), "hate", "not_violating"): 1}
    assert Heartbeat.objects.get(name=aggregates.LAST_RUN).beat_at == later


def test_a_first_run_catches_up_a_week_and_later_runs_start_from_the_previous_one(reviewer) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    with freeze_time(now - timedelta(days=6)):
        make_decision(reviewer=reviewer)
    with freeze_time(now - timedelta(days=9)):
        make_decision(reviewer=reviewer)

    with freeze_time(now):
        aggregates.refresh_recent()
    assert sum(r.value for r in HourlyCount.objects.filter(metric=Metric.DECISIONS)) == 1  # nine days back: backfill

    with freeze_time(now - timedelta(days=1)):
        make_decision(reviewer=reviewer)  # arrives late, stamped before the previous run: outside the overlap
    with freeze_time(now + timedelta(minutes=5)):
        make_decision(reviewer=reviewer)
        aggregates.refresh_recent()
    assert sum(r.value for r in HourlyCount.objects.filter(metric=Metric.DECISIONS)) == 2


def test_a_count_that_falls_to_zero_is_deleted(reviewer) -> None:
    with freeze_time(H10):
        decision = make_decision(reviewer=reviewer)
    aggregates.refresh(start=H10, end=H11)
    assert stored(Metric.DECISIONS) == {(Metric.DECISIONS, H10, "not_violating", ""): 1}
    Decision.objects.filter(pk=decision.pk).update(decided_at=H12)  # as if the hour had been miscounted
    aggregates.refresh(start=H10, end=H12 + timedelta(hours=1))
    assert stored(Metric.DECISIONS) == {(Metric.DECISIONS, H12, "not_violating", ""): 1}


def test_the_backfill_command_counts_a_range_and_says_what_it_did(history) -> None:
    out = StringIO()
    with freeze_time(H12 + timedelta(hours=5)):
        call_command("backfill_hourly_counts", "--since", "2026-03-02", stdout=out)
    assert stored(Metric.FLAGS) == {k: v for k, v in EXPECTED_BEFORE_CORRECTION.items() if k[0] == Metric.FLAGS}
    assert "2026-03-02 00:00" in out.getvalue() and "hourly counts written" in out.getvalue()
    assert Heartbeat.objects.get(name=aggregates.LAST_RUN).beat_at == H12 + timedelta(hours=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since must be a date"),
        (["--days", "0"], "--days must be at least 1"),
        (["--since", "2030-01-01"], "--since is in the future"),
    ],
)
def test_the_backfill_command_refuses_bad_input_with_a_sentence(db, args, message) -> None:
    with freeze_time(H12), pytest.raises(CommandError, match=message):
        call_command("backfill_hourly_counts", *args, stdout=StringIO())


def test_the_periodic_job_is_declared_and_its_task_runs_the_refresh(reviewer) -> None:
    from console.periodic import PERIODIC_JOBS
    from console.tasks import aggregate_hourly_counts

    assert "console.tasks.aggregate_hourly_counts" in {job.task_path for job in PERIODIC_JOBS}
    make_decision(reviewer=reviewer)
    aggregate_hourly_counts.enqueue()  # the immediate backend runs it here
    assert sum(r.value for r in HourlyCount.objects.filter(metric=Metric.DECISIONS)) == 1
    assert Heartbeat.objects.filter(name=aggregates.LAST_RUN).exists()
