"""Reads for the reviewer's pages, scoped to what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from console.access import has_cap
from console.roles import Cap
from review.models import Case, CaseStatus, Category, Decision, Flag, Queue, Signal

SENIOR_KINDS = {Queue.Kind.ESCALATION, Queue.Kind.APPEAL}


def workable_queues(user: Any) -> QuerySet[Queue]:
    """Queues `user` may claim from: review queues they are a member of (or that have no members),
    and, for seniors, the escalation and appeal queues."""
    if not has_cap(user, Cap.REVIEW_CASES):
        return Queue.objects.none()
    member_or_open = Q(members=user) | Q(members__isnull=True)
    allowed = Q(kind__in=[Queue.Kind.REVIEW, Queue.Kind.CALIBRATION]) & member_or_open
    if has_cap(user, Cap.HANDLE_ESCALATIONS):
        allowed |= Q(kind__in=SENIOR_KINDS)
    return Queue.objects.filter(allowed).distinct()


def queue_for(user: Any, pk: int) -> Queue:
    queue = workable_queues(user).filter(pk=pk).first()
    if queue is None:
        raise Http404("No such queue.")
    return queue


@dataclass(frozen=True)
class QueueRow:
    queue: Queue
    waiting: int
    in_review: int
    oldest: datetime | None
    past_sla: int
    held_by_me: int | None


def queue_overview(user: Any) -> list[QueueRow]:
    """One aggregate query for every queue's depth, age and SLA breaches, whatever their number."""
    queues = list(workable_queues(user).order_by("-priority", "name"))
    if not queues:
        return []
    now = timezone.now()
    aggregates: dict[str, Any] = {}
    for q in queues:
        mine = Q(queue_id=q.pk)
        late = mine & Q(created_at__lt=now - timedelta(minutes=q.sla_minutes))
        aggregates[f"w{q.pk}"] = Count("pk", filter=mine & Q(status=CaseStatus.OPEN))
        aggregates[f"r{q.pk}"] = Count("pk", filter=mine & Q(status=CaseStatus.CLAIMED))
        aggregates[f"o{q.pk}"] = Min("created_at", filter=mine)
        aggregates[f"l{q.pk}"] = Count("pk", filter=late)
        aggregates[f"m{q.pk}"] = Min("pk", filter=mine & Q(status=CaseStatus.CLAIMED, claimed_by=user))
    row = Case.objects.unresolved().filter(queue__in=queues).aggregate(**aggregates)
    return [
        QueueRow(q, row[f"w{q.pk}"], row[f"r{q.pk}"], row[f"o{q.pk}"], row[f"l{q.pk}"], row[f"m{q.pk}"])
        for q in queues
    ]


def case_for(user: Any, pk: int) -> Case:
    """A case `user` may see: in a queue they work, decided by them, or any case for a senior. 404 otherwise."""
    case = Case.objects.select_related(
        "queue", "integration", "account", "category", "claimed_by"
    ).filter(pk=pk).first()
    if case is None:
        raise Http404("No such case.")
    if has_cap(user, Cap.HANDLE_ESCALATIONS) or case.claimed_by_id == user.pk:
        return case
    if workable_queues(user).filter(pk=case.queue_id).exists():
        return case
    if case.decisions.filter(reviewer=user).exists():
        return case
    raise Http404("No such case.")


@dataclass(frozen=True)
class AccountPanel:
    flags: dict[str, int]
    violations: dict[str, int]
    recent_decisions: list[Decision]


WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def account_panel(case: Case) -> AccountPanel:
    from accounts.models import Violation

    now = timezone.now()
    flags = Flag.objects.filter(account_id=case.account_id).aggregate(
        **{w: Count("pk", filter=Q(occurred_at__gte=now - d)) for w, d in WINDOWS.items()}
    )
    violations = Violation.objects.confirmed().filter(account_id=case.account_id).aggregate(
        **{w: Count("pk", filter=Q(occurred_at__gte=now - d)) for w, d in WINDOWS.items()}
    )
    decisions = list(
        Decision.objects.current()
        .filter(case__account_id=case.account_id)
        .exclude(case=case)
        .select_related("category", "reviewer")
        .order_by("-decided_at")[:5]
    )
    return AccountPanel(flags=flags, violations=violations, recent_decisions=decisions)


def case_flags(case: Case, *, limit: int = 20) -> list[Flag]:
    signals = Signal.objects.select_related("category").order_by("-level", "category__position")
    return list(
        case.flags.order_by("occurred_at")
        .select_related("profile_version__profile", "mapping_version")
        .prefetch_related(Prefetch("signals", queryset=signals))[:limit]
    )


@dataclass(frozen=True)
class JudgedBy:
    """The policy versions that opened a case: "judged by profile Default v3; queued by routing v5"."""

    profile: str | None
    profile_version: int | None
    routing_version: int | None


def judged_by(case: Case) -> JudgedBy:
    row = (
        Case.objects.filter(pk=case.pk)
        .values_list("profile_version__profile__name", "profile_version__version", "routing_version__version")
        .first()
    )
    return JudgedBy(*row) if row else JudgedBy(None, None, None)


def sensitive_categories(flags: list[Flag]) -> list[Category]:
    """Sensitive categories any met signal of these flags touches (the text is blurred for them)."""
    seen: dict[str, Category] = {}
    for flag in flags:
        for signal in flag.signals.all():
            if signal.category.sensitive and (signal.met_threshold or signal.level >= 2):
                seen[signal.category_id] = signal.category
    return list(seen.values())


def decisions_of(case: Case) -> list[Decision]:
    return list(case.decisions.select_related("reviewer", "category", "supersedes").order_by("decided_at"))


def cases_list(user: Any) -> QuerySet[Case]:
    """The case list's base queryset: seniors see all cases, reviewers those of their queues."""
    base = Case.objects.select_related("queue", "integration", "account", "category", "claimed_by")
    if has_cap(user, Cap.HANDLE_ESCALATIONS):
        return base
    return base.filter(queue__in=workable_queues(user))


def with_source(queryset: QuerySet[Case], source: str) -> QuerySet[Case]:
    return queryset.filter(Exists(Flag.objects.filter(case=OuterRef("pk"), source=source)))
