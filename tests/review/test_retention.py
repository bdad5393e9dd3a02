"""Retention removes old prompt and response text, keeps the evidence, and leaves alone what is still needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ActionKind, Violation
from accounts.services import apply_action, approve_action, decide_appeal, lift_action, propose_action, receive_appeal
from console.models import AuditEntry, AuditVerb
from console.periodic import PERIODIC_JOBS, enqueue_periodic
from review.models import Case, Category, Decision, Flag, Integration, Outcome, Severity, Signal
from review.services import ingest_flags
from review.services.retention import apply_retention, set_retention_days
from tests.factories import Api, hold, make_decision, make_integration, make_key

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=40)
HIGH = {"signals": [{"category": "violence", "level": "high", "score": 0.99}]}
BELOW = {"signals": [{"category": "violence", "level": "low", "score": 0.3}]}


@pytest.fixture(autouse=True)
def _private_cache(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid4().hex}}


@pytest.fixture
def acme(roles) -> Integration:  # type: ignore[no-untyped-def]
    integration = make_integration("Acme")
    return set_retention_days(actor=None, integration=integration, days=30, reason="privacy review")


def _flag(integration: Integration, fid: str, *, user: str | None = None, when: Any = OLD, result: Any = HIGH) -> Flag:
    payload = {"id": fid, "user": user or f"user-{fid}", "prompt": f"secret prompt {fid}",
               "response": f"secret response {fid}", "source": "generic", "result": result,
               "metadata": {"model": "m-1", "route": fid}}
    [outcome] = ingest_flags(integration=integration, payloads=[payload], now=when)
    assert outcome.status == "created", outcome.errors
    return Flag.objects.get(pk=outcome.flag)


def _violating(flag: Flag, reviewer: Any) -> Violation:
    case = Case.objects.select_related("queue").get(pk=flag.case_id)
    decision = make_decision(case, reviewer, outcome=Outcome.VIOLATING, category=Category.objects.get(pk="violence"),
                             severity=Severity.HIGH)
    return Violation.objects.get(decision=decision)


def _applied(violation: Violation, senior: Any, kind: ActionKind = ActionKind.WARN) -> Any:
    action = propose_action(actor=None, account=violation.account, kind=kind, reason="policy",
                            evidence=[violation], scope="tools:x" if kind == ActionKind.RESTRICT else "")
    approve_action(actor=senior, action=action, reason="ok")
    return apply_action(actor=senior, action=action, reason="ok")


def _text(flag: Flag) -> tuple[str, str, Any]:
    flag.refresh_from_db()
    return flag.prompt, flag.response, flag.text_removed_at


def test_it_removes_old_text_and_keeps_the_evidence(acme, reviewer) -> None:
    closed = _flag(acme, "closed")
    decision = make_decision(Case.objects.select_related("queue").get(pk=closed.case_id), reviewer)
    never_queued = _flag(acme, "below", result=BELOW)
    before = {f.pk: (f.content_hash, f.metadata, f.result, f.case_id, f.occurred_at, f.received_at, f.max_level)
              for f in (closed, never_queued)}
    signals = {f.pk: list(Signal.objects.filter(flag=f).values_list("source_label", "category", "score", "level"))
               for f in (closed, never_queued)}

    run = apply_retention(now=NOW)

    assert run.removed == {"Acme": 2} and run.complete
    for flag in (closed, never_queued):
        assert _text(flag) == ("", "", NOW)
        assert (flag.content_hash, flag.metadata, flag.result, flag.case_id, flag.occurred_at, flag.received_at,
                flag.max_level) == before[flag.pk]
        assert list(Signal.objects.filter(flag=flag).values_list("source_label", "category", "score", "level")) == (
            signals[flag.pk]
        )
    assert Decision.objects.get(pk=decision.pk).outcome == Outcome.NOT_VIOLATING
    [entry] = AuditEntry.objects.filter(verb=AuditVerb.RETENTION_APPLIED)
    assert (entry.actor_type, entry.after["flags"], entry.after["per_integration"]) == ("system", 2, {"Acme": 2})


def test_it_leaves_recent_flags_and_other_integrations_retention_alone(acme) -> None:
    recent = _flag(acme, "recent", when=NOW - timedelta(days=29), result=BELOW)
    beta = make_integration("Beta")  # the default, 90 days
    older_elsewhere = _flag(beta, "beta-old", result=BELOW)

    assert apply_retention(now=NOW).total == 0

    assert _text(recent) == ("secret prompt recent", "secret response recent", None)
    assert _text(older_elsewhere)[2] is None
    assert not AuditEntry.objects.filter(verb=AuditVerb.RETENTION_APPLIED).exists()  # nothing changed, nothing said
    assert apply_retention(now=NOW + timedelta(days=60)).removed == {"Acme": 1, "Beta": 1}


def test_it_leaves_open_cases_alone(acme, reviewer) -> None:
    waiting = _flag(acme, "open")
    held = _flag(acme, "held")
    hold(Case.objects.get(pk=held.case_id), reviewer)

    apply_retention(now=NOW)

    assert _text(waiting)[0] == "secret prompt open"
    assert _text(held)[0] == "secret prompt held"


def test_it_leaves_the_evidence_of_actions_and_open_appeals_alone(acme, reviewer, senior, second_senior) -> None:
    appealed = _flag(acme, "appealed", user="u-appeal")
    action = _applied(_violating(appealed, reviewer), senior)
    appeal = receive_appeal(actor=None, account=action.account, action_id=action.pk, text="it was a quote")
    same_account = _flag(acme, "appealed-2", user="u-appeal", result=BELOW)  # not evidence, but the account appeals
    proposed = _flag(acme, "proposed", user="u-proposed")
    propose_action(actor=None, account=Case.objects.get(pk=proposed.case_id).account, kind=ActionKind.WARN,
                   reason="policy", evidence=[_violating(proposed, reviewer)])
    lifted = _flag(acme, "lifted", user="u-lifted")
    lift_action(actor=senior, action=_applied(_violating(lifted, reviewer), senior), reason="served")
    bare = _flag(acme, "bare", user="u-bare", result=BELOW)  # an action that names no evidence holds the account
    propose_action(actor=None, account=bare.account, kind=ActionKind.WARN, reason="seen elsewhere")

    run = apply_retention(now=NOW)

    assert run.removed == {"Acme": 1}
    assert _text(lifted)[:2] == ("", "")
    for flag in (appealed, same_account, proposed, bare):
        assert _text(flag)[2] is None, flag.external_id
        assert flag.prompt == f"secret prompt {flag.external_id}"

    # Upheld, the appeal closes; the action stays in force, so its evidence is still held.
    decide_appeal(actor=second_senior, appeal=appeal, reverse=False, reason="the quote was the threat")
    assert apply_retention(now=NOW).removed == {"Acme": 1}
    assert _text(same_account)[:2] == ("", "")
    assert _text(appealed)[0] == "secret prompt appealed"


def test_running_twice_changes_nothing_more(acme, reviewer) -> None:
    flags = [_flag(acme, f"f{n}", result=BELOW) for n in range(3)]

    first = apply_retention(now=NOW)
    second = apply_retention(now=NOW + timedelta(hours=1))

    assert (first.total, second.total) == (3, 0)
    assert {_text(f)[2] for f in flags} == {NOW}  # the first run's time stays
    assert AuditEntry.objects.filter(verb=AuditVerb.RETENTION_APPLIED).count() == 1


def test_a_run_stops_at_its_cap_and_the_next_goes_on(acme) -> None:
    for n in range(5):
        _flag(acme, f"f{n}", result=BELOW)

    first = apply_retention(now=NOW, batch=2, max_flags=3)
    second = apply_retention(now=NOW, batch=2, max_flags=3)

    assert (first.total, first.complete, second.total, second.complete) == (3, False, 2, True)
    runs = AuditEntry.objects.filter(verb=AuditVerb.RETENTION_APPLIED).order_by("seq")
    assert [(e.after["flags"], e.after["complete"]) for e in runs] == [(3, False), (2, True)]


def test_the_case_page_and_the_api_say_the_text_was_removed(acme, reviewer, senior, client) -> None:
    flag = _flag(acme, "shown")
    make_decision(Case.objects.select_related("queue").get(pk=flag.case_id), reviewer)
    apply_retention(now=NOW)
    client.force_login(senior)

    page = client.get(reverse("review:case", args=[flag.case_id])).content.decode()
    body = Api(client, make_key(acme).secret).get("flags/shown").json()

    assert f"Text removed by retention on {NOW:%Y-%m-%d}" in page
    assert "<h3>Prompt</h3>" not in page and "secret prompt" not in page
    assert (body["prompt"], body["response"]) == ("", "")
    assert body["text_removed_at"] is not None
    assert body["signals"] and body["decision"]["outcome"] == "not_violating"


def test_the_periodic_job_runs_retention(acme) -> None:
    flag = _flag(acme, "periodic", result=BELOW)

    assert "review.tasks.apply_text_retention" in {job.task_path for job in PERIODIC_JOBS}
    enqueue_periodic("review.tasks.apply_text_retention")

    assert _text(flag)[:2] == ("", "")


def test_setting_the_days_is_audited_and_bounded(acme, policy_admin) -> None:
    set_retention_days(actor=policy_admin, integration=acme, days=7, reason="data minimisation")

    entry = AuditEntry.objects.filter(verb=AuditVerb.RETENTION_CHANGED).latest("seq")
    assert (entry.before, entry.after, entry.reason, entry.actor_label) == (
        {"retention_days": 30}, {"retention_days": 7}, "data minimisation", policy_admin.get_username()
    )
    for days, reason in ((0, "x"), (3651, "x"), (10, " ")):
        with pytest.raises(ValueError):
            set_retention_days(actor=policy_admin, integration=acme, days=days, reason=reason)
    assert Integration.objects.get(pk=acme.pk).retention_days == 7
