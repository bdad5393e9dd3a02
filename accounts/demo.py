"""Demo enforcement: reviewers decide part of the demo's cases, the platform reports usage,
rules propose actions, and seniors walk actions through every state; one appeal waits.

Everything goes through the real services, so the audit log, the violation
windows and the account states are what real work would leave behind.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import (
    Account,
    Action,
    ActionKind,
    ActionState,
    EnforcementRule,
    RuleKind,
    Violation,
    Window,
)
from accounts.services import (
    UsageRow,
    apply_action,
    approve_action,
    evaluate_recent,
    expire_actions,
    lift_action,
    propose_action,
    receive_appeal,
    record_usage,
    reject_action,
    save_rule,
)
from console.demo import DEMO_ACTOR, demo_clock, quiet
from review.intake import hash_user_id
from review.models import CHILD_SAFETY, Case, CaseStatus, Integration, Outcome, Queue, Severity
from review.services import Verdict, record_decision

RULES: list[dict[str, Any]] = [
    {
        "name": "Any child safety → suspend 30 days (two approvals)",
        "kind": RuleKind.ANY,
        "categories": [CHILD_SAFETY],
        "window": Window.QUARTER,
        "action_kind": ActionKind.SUSPEND,
        "action_hours": 30 * 24,
    },
    {
        "name": "3 harassment in 7 days → warn",
        "kind": RuleKind.COUNT,
        "categories": ["harassment"],
        "window": Window.WEEK,
        "count": 3,
        "action_kind": ActionKind.WARN,
    },
    {
        "name": "5 violations in 30 days → restrict image generation for 7 days",
        "kind": RuleKind.COUNT,
        "window": Window.MONTH,
        "count": 5,
        "action_kind": ActionKind.RESTRICT,
        "action_scope": "tools:image_generation",
        "action_hours": 7 * 24,
    },
    {
        "name": "Rate ≥ 5 per 1,000 requests over 30 days (≥ 500 requests) → warn",
        "kind": RuleKind.RATE,
        "window": Window.MONTH,
        "rate": 5.0,
        "min_requests": 500,
        "action_kind": ActionKind.WARN,
    },
]
SEVERITY_FOR_LEVEL = {0: Severity.LOW, 1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH}
VIOLATING_SHARE_BY_LEVEL = {0: 0.1, 1: 0.3, 2: 0.6, 3: 0.85}
HEAVY_USERS = 8  # review.demo.seed_flags makes users 0-7 of each integration keep misbehaving
CASES_PER_HEAVY_ACCOUNT = 5
OTHER_CASES = 24
APPEAL_TEXT = (
    "I was pasting messages I had received so I could report them to my manager. I didn't write them "
    "and I wasn't sending them to anyone. Please give me image generation back: I need it for work."
)


def seed_enforcement(log: Callable[[str], None], *, seed: int = 11) -> None:
    if EnforcementRule.objects.filter(name__in=[r["name"] for r in RULES]).exists():
        log("enforcement: rules already there, nothing to do")
        return
    rng = random.Random(seed)
    users = {
        u.username: u
        for u in get_user_model().objects.filter(username__in=["reviewer", "reviewer2", "senior", "senior2"])
    }
    past = _past_actions(rng, users["senior"], users["senior2"])
    with quiet("django.tasks"):  # one "task ran" line per decision would drown the summary
        decided, violating = _decide_cases(rng, [users["reviewer"], users["reviewer2"]])
    # Rules come after the decisions so each is evaluated once, by the sweep, as the periodic job would.
    for data in RULES:
        save_rule(actor=DEMO_ACTOR, rule=None, data=data, reason="Demo enforcement policy")
    reported = _report_usage(rng)
    proposed = evaluate_recent()
    walked = _walk_actions(users["senior"], users["senior2"])
    log(f"enforcement history: {past}")
    log(
        f"enforcement: {decided} cases decided ({violating} violating), usage for {reported} accounts, "
        f"{len(RULES)} rules proposed {proposed} actions; {walked}"
    )


# The month before: (days ago, kind, hours, scope, lifted after hours). Seniors act by hand on the
# accounts with the most violations; time-boxed actions expire when their time runs out.
PAST_ACTIONS: list[tuple[float, ActionKind, int | None, str, int | None]] = [
    (27.4, ActionKind.WARN, 72, "", None),
    (24.6, ActionKind.RESTRICT, 168, "tools:image_generation", None),
    (22.3, ActionKind.WARN, 72, "", None),
    (19.5, ActionKind.SUSPEND, 72, "", None),
    (16.4, ActionKind.WARN, 72, "", None),
    (13.6, ActionKind.RESTRICT, 168, "rate_limit:10/min", 50),
    (11.3, ActionKind.WARN, 72, "", None),
    (9.5, ActionKind.SUSPEND, 96, "", None),
    (8.4, ActionKind.TERMINATE, None, "", None),
    (6.6, ActionKind.WARN, 72, "", None),
    (4.5, ActionKind.RESTRICT, 168, "tools:code_execution", None),
    (3.4, ActionKind.WARN, 72, "", None),
    (2.6, ActionKind.SUSPEND, 72, "", None),
    (1.4, ActionKind.WARN, 72, "", 20),
]


def _past_actions(rng: random.Random, senior: Any, senior2: Any) -> str:
    """Walk PAST_ACTIONS through the real services at their own moments (the demo clock)."""
    now = timezone.now()
    taken: set[int] = set()
    steps: list[tuple[datetime, int, str, Any]] = []  # (when, order, what, payload)
    for n, (days, kind, hours, scope, lifted_after) in enumerate(PAST_ACTIONS):
        at = now - timedelta(days=days) + timedelta(minutes=rng.randint(0, 90))
        account = (
            Account.objects.filter(violations__confirmed_at__lt=at, violations__voided_at__isnull=True)
            .exclude(pk__in=taken)
            .order_by("-violation_count", "pk")
            .first()
        )
        if account is None:
            continue
        taken.add(account.pk)
        steps.append((at, n, "act", (account, kind, hours, scope, lifted_after)))
    heapq.heapify(steps)
    done: dict[str, int] = {}
    if not steps:
        return "nothing to act on"
    with demo_clock(steps[0][0]) as move_to:
        while steps:
            at, n, what, payload = heapq.heappop(steps)
            move_to(at)
            if what == "expire":
                done["expired"] = done.get("expired", 0) + expire_actions()
                continue
            if what == "lift":
                lift_action(actor=senior, action=payload, reason="The platform showed the account had been taken over.")
                done["lifted"] = done.get("lifted", 0) + 1
                continue
            account, kind, hours, scope, lifted_after = payload
            evidence = list(
                Violation.objects.confirmed().filter(account=account, confirmed_at__lt=at).order_by("-occurred_at")[:3]
            )
            action = propose_action(
                actor=senior,
                account=account,
                kind=kind,
                hours=hours,
                scope=scope,
                evidence=evidence,
                reason="Repeated violations confirmed on review.",
            )
            move_to(at + timedelta(minutes=rng.randint(10, 40)))
            approve_action(actor=senior2, action=action, reason="Agreed.")
            applied = apply_action(actor=senior2, action=action, reason="Applying.")
            assert applied.applied_at is not None  # apply_action stamps it
            done[f"{kind.label.lower()} applied"] = done.get(f"{kind.label.lower()} applied", 0) + 1
            if lifted_after is not None:
                heapq.heappush(steps, (applied.applied_at + timedelta(hours=lifted_after), n, "lift", applied))
            elif applied.ends_at is not None and applied.ends_at < now:
                heapq.heappush(steps, (applied.ends_at + timedelta(minutes=1), n, "expire", None))
    return ", ".join(f"{n} {what}" for what, n in done.items())


def _decide_cases(rng: random.Random, reviewers: list[Any]) -> tuple[int, int]:
    """Reviewers decide the open cases of the accounts that keep misbehaving, every child-safety case,
    and a sample of the rest: enough history for the rules to fire, in a few seconds."""
    from review.demo import INTEGRATIONS

    integrations = list(Integration.objects.filter(name__in=[n for n, _ in INTEGRATIONS]).order_by("pk"))
    heavy = {hash_user_id(f"demo-user-{i.pk}-{n}") for i in integrations for n in range(HEAVY_USERS)}
    open_cases = Case.objects.filter(status=CaseStatus.OPEN, queue__kind=Queue.Kind.REVIEW).order_by("pk")
    chosen: list[int] = []
    per_account: dict[int, int] = {}
    for pk, account_id in open_cases.filter(account__user_hash__in=heavy).values_list("pk", "account_id"):
        if per_account.get(account_id, 0) < CASES_PER_HEAVY_ACCOUNT:
            per_account[account_id] = per_account.get(account_id, 0) + 1
            chosen.append(pk)
    chosen += open_cases.filter(category_id=CHILD_SAFETY).exclude(pk__in=chosen).values_list("pk", flat=True)
    rest = list(open_cases.exclude(pk__in=chosen).values_list("pk", flat=True))
    chosen += rng.sample(rest, min(OTHER_CASES, len(rest)))
    decided = violating = 0
    for i, pk in enumerate(chosen):
        reviewer = reviewers[i % len(reviewers)]
        case = _lease(pk, reviewer)
        if case is None:
            continue
        child = case.category_id == CHILD_SAFETY
        if child:
            share = 0.9
        elif case.account.user_hash in heavy:
            share = 0.8
        else:
            share = VIOLATING_SHARE_BY_LEVEL.get(case.level, 0.5)
        if rng.random() < share:
            severity = Severity.CRITICAL if child else SEVERITY_FOR_LEVEL.get(case.level, Severity.MEDIUM)
            verdict = Verdict(outcome=Outcome.VIOLATING, category=case.category, severity=severity)
            violating += 1
        else:
            verdict = Verdict(outcome=Outcome.NOT_VIOLATING)
        record_decision(actor=reviewer, case=case, verdict=verdict)
        decided += 1
    return decided, violating


def _lease(pk: int, reviewer: Any) -> Case | None:
    """Give `reviewer` this very case, as tests do (claim_next_case would pick by priority instead)."""
    now = timezone.now()
    leased = Case.objects.filter(pk=pk, status=CaseStatus.OPEN).update(
        status=CaseStatus.CLAIMED,
        claimed_by=reviewer,
        claimed_at=now - timedelta(seconds=40),
        lease_expires_at=now + timedelta(minutes=10),
        updated_at=now,
    )
    return Case.objects.select_related("queue", "account", "category").get(pk=pk) if leased else None


def _report_usage(rng: random.Random) -> int:
    """Thirty days of requests for a third of each integration's users; the heavy ones use it little."""
    from review.demo import INTEGRATIONS

    today = timezone.now().date()
    reported = 0
    for integration in Integration.objects.filter(name__in=[n for n, _ in INTEGRATIONS]).order_by("pk"):
        rows: list[UsageRow] = []
        for n in range(50):
            user = f"demo-user-{integration.pk}-{n}"
            low, high = (15, 45) if n < HEAVY_USERS else (40, 400)
            rows += [
                UsageRow(user=user, day=today - timedelta(days=d), requests=rng.randint(low, high)) for d in range(30)
            ]
        record_usage(actor=DEMO_ACTOR, integration=integration, rows=rows)
        reported += 50
    return reported


def _walk_actions(senior: Any, senior2: Any) -> str:
    """Take the proposals through every state the workflow has, each step by the right people."""

    def waiting(kind: ActionKind) -> list[Action]:
        return list(Action.objects.filter(state=ActionState.PROPOSED, kind=kind).order_by("pk"))

    done: dict[str, int] = {}

    def count(what: str) -> None:
        done[what] = done.get(what, 0) + 1

    suspends, restricts, warns = waiting(ActionKind.SUSPEND), waiting(ActionKind.RESTRICT), waiting(ActionKind.WARN)
    if suspends:  # a rule's suspension: two different seniors approve, then it is applied
        approve_action(actor=senior, action=suspends[0], reason="Child-safety report confirmed on review.")
        approve_action(actor=senior2, action=suspends[0], reason="Agreed: second approval.")
        apply_action(actor=senior2, action=suspends[0], reason="Suspending for the rule's 30 days.")
        count("suspension applied")
    if len(suspends) > 1:  # one approval of two
        approve_action(actor=senior, action=suspends[1], reason="Confirmed; waiting for a second senior.")
        count("suspension half-approved")
    appealed = None
    if restricts:  # applied, then appealed (senior had no hand in it, so can decide the appeal)
        approve_action(actor=senior2, action=restricts[0], reason="Repeated violations in 30 days.")
        appealed = apply_action(actor=senior2, action=restricts[0], reason="Image generation off for a week.")
        count("restriction applied")
    if len(restricts) > 1:  # applied, then lifted
        approve_action(actor=senior, action=restricts[1], reason="Pattern confirmed.")
        apply_action(actor=senior, action=restricts[1], reason="Restricting for a week.")
        lift_action(actor=senior, action=restricts[1], reason="The platform confirmed the account was compromised.")
        count("restriction lifted")
    if len(restricts) > 2:  # approved, waiting to be applied
        approve_action(actor=senior2, action=restricts[2], reason="Pattern confirmed.")
        count("restriction approved")
    if warns:
        reject_action(actor=senior2, action=warns[0], reason="Quotes in a moderation discussion, not harassment.")
        count("warning rejected")
    if len(warns) > 1:
        approve_action(actor=senior, action=warns[1], reason="Clear pattern.")
        apply_action(actor=senior, action=warns[1], reason="Warning sent through the platform.")
        count("warning applied")
    heavy = _heaviest_without_action()
    if heavy is not None:
        evidence = list(Violation.objects.confirmed().filter(account=heavy).order_by("-occurred_at")[:3])
        short = propose_action(
            actor=senior,
            account=heavy,
            kind=ActionKind.WARN,
            hours=1,
            evidence=evidence,
            reason="A one-hour warning banner.",
        )
        approve_action(actor=senior2, action=short, reason="Fine.")
        apply_action(actor=senior2, action=short, reason="Showing the banner.")
        if expire_actions(now=timezone.now() + timedelta(hours=2)):
            count("warning expired")
        # Four eyes: a senior's own suspension waits for someone else.
        propose_action(
            actor=senior,
            account=heavy,
            kind=ActionKind.SUSPEND,
            hours=72,
            evidence=evidence,
            reason="Keeps coming back after warnings; three days off.",
        )
        count("suspension proposed by hand")
    if appealed is not None:
        key = appealed.account.integration.api_keys.order_by("pk").first()
        receive_appeal(actor=key, account=appealed.account, action_id=appealed.pk, text=APPEAL_TEXT)
        count("appeal waiting")
    return ", ".join(f"{n} {what}" for what, n in done.items())


def _heaviest_without_action() -> Account | None:
    return (
        Account.objects.filter(violation_count__gt=0)
        .exclude(actions__isnull=False)
        .order_by("-violation_count", "pk")
        .first()
    )
