"""Ingestion: flags in, judged, stored once, queued."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from review import calibration
from review.bulk import insert_ignoring_conflicts, insert_rows, join_cases, set_flag_cases, upsert_accounts
from review.intake import FlagInput, Invalid, read_flag
from review.models import Case, CaseStatus, Flag, Integration, Signal
from review.policy import JudgedSignal, Policy, Route, lead_signal, policy_for


@dataclass
class FlagOutcome:
    index: int
    id: str | None
    status: str  # created / duplicate / rejected
    flag: int | None = None
    queued: bool = False
    case: int | None = None
    queue: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.status == "rejected":
            data["errors"] = self.errors
        else:
            data.update(flag=self.flag, queued=self.queued, case=self.case, queue=self.queue)
        return data


@dataclass
class _Pending:
    outcome: FlagOutcome
    flag: FlagInput
    signals: list[JudgedSignal]
    lead: JudgedSignal | None
    # Set on a flag below every threshold that was drawn for the calibration
    # sample: its strongest signal, which names the calibration case.
    sample: JudgedSignal | None = None

    @property
    def key_signal(self) -> JudgedSignal | None:
        return self.lead or self.sample


def ingest_flags(
    *, integration: Integration, payloads: Sequence[object], now: datetime | None = None
) -> list[FlagOutcome]:
    """Store each valid flag once, judge it by the integration's profile, queue it if it needs review.

    A bad flag is answered `rejected` without touching the others; an `id`
    this integration sent before is answered `duplicate` with the original,
    also when the copy arrives in a concurrent request. Writes no audit entry:
    flags are evidence, not changes made by people.
    """
    received = now or timezone.now()
    policy = policy_for(integration)
    outcomes: list[FlagOutcome] = []
    pending: dict[str, _Pending] = {}
    repeats: list[FlagOutcome] = []
    for index, payload in enumerate(payloads):
        raw_id = payload.get("id") if isinstance(payload, dict) else None
        outcome = FlagOutcome(index=index, id=raw_id if isinstance(raw_id, str) else None, status="rejected")
        outcomes.append(outcome)
        try:
            flag = read_flag(payload, now=received)
        except Invalid as invalid:
            outcome.errors = [e.as_dict() for e in invalid.errors]
            continue
        if flag.external_id in pending:  # the same id twice in one batch: the first one counts
            outcome.status = "duplicate"
            repeats.append(outcome)
            continue
        signals = policy.judge(flag.source, flag.raw_signals)
        item = _Pending(outcome, flag, signals, lead_signal(signals, policy.weights))
        if (
            item.lead is None
            and signals
            and policy.calibration_route is not None
            and calibration.sampled(
                integration_id=integration.pk, external_id=flag.external_id, rate=policy.calibration_rate
            )
        ):
            item.sample = calibration.sample_signal(signals, policy.weights)
        pending[flag.external_id] = item
    if pending:
        with transaction.atomic():
            _store(integration, policy, pending, received)
    for outcome in repeats:
        original = pending[outcome.id].outcome  # type: ignore[index]
        outcome.flag, outcome.queued, outcome.case, outcome.queue = (
            original.flag,
            original.queued,
            original.case,
            original.queue,
        )
    return outcomes


def _store(integration: Integration, policy: Policy, pending: dict[str, _Pending], received: datetime) -> None:
    _answer_known_duplicates(integration, pending)
    fresh = {eid: p for eid, p in pending.items() if p.outcome.status != "duplicate"}
    if not fresh:
        return
    accounts = _upsert_accounts(integration, fresh.values())
    rows = [
        {
            "integration": integration.pk,
            "external_id": eid,
            "account": accounts[p.flag.user_hash],
            "source": p.flag.source,
            "prompt": p.flag.prompt,
            "response": p.flag.response,
            "content_hash": p.flag.content_hash,
            "result": p.flag.result,
            "metadata": p.flag.metadata,
            "language": p.flag.language,
            "occurred_at": p.flag.occurred_at,
            "received_at": received,
            "max_level": max((int(s.level) for s in p.signals), default=0),
            "needs_review": p.lead is not None,
            "profile_version": policy.profile_version_id,
            "mapping_version": policy.mapping_version_ids.get(p.flag.source),
        }
        for eid, p in sorted(fresh.items())  # one lock order for concurrent batches
    ]
    inserted = dict((eid, pk) for pk, eid in insert_ignoring_conflicts(Flag, rows, returning=["id", "external_id"]))
    lost = [p for eid, p in fresh.items() if eid not in inserted]
    if lost:  # a concurrent request stored these a moment ago
        _answer_known_duplicates(integration, {p.flag.external_id: p for p in lost})
        _uncount(accounts, lost)
    created = {eid: p for eid, p in fresh.items() if eid in inserted}
    for eid, p in created.items():
        p.outcome.status, p.outcome.flag = "created", inserted[eid]
    insert_rows(
        Signal,
        ["flag", "source_label", "category", "score", "level", "severity", "threshold", "met_threshold"],
        [
            (inserted[eid], s.label, s.category, s.score, int(s.level), s.severity, s.threshold.value, s.met)
            for eid, p in created.items()
            for s in p.signals
        ],
    )
    _queue(integration, policy, created, accounts, inserted, received)


def _answer_known_duplicates(integration: Integration, pending: dict[str, _Pending]) -> None:
    known = Flag.objects.filter(integration=integration, external_id__in=list(pending)).values_list(
        "external_id", "pk", "case_id", "case__queue__slug"
    )
    for eid, pk, case_id, queue in known:
        outcome = pending[eid].outcome
        outcome.status, outcome.flag, outcome.case, outcome.queue = "duplicate", pk, case_id, queue
        outcome.queued = case_id is not None


def _upsert_accounts(integration: Integration, fresh: Any) -> dict[str, int]:
    seen: dict[str, list[Any]] = {}
    for p in fresh:
        first, last, count = seen.get(p.flag.user_hash, [p.flag.occurred_at, p.flag.occurred_at, 0])
        seen[p.flag.user_hash] = [min(first, p.flag.occurred_at), max(last, p.flag.occurred_at), count + 1]
    rows = [(integration.pk, h, first, last, count) for h, (first, last, count) in sorted(seen.items())]
    return upsert_accounts(rows)


def _uncount(accounts: dict[str, int], lost: list[_Pending]) -> None:
    from accounts.models import Account

    per_account: dict[int, int] = defaultdict(int)
    for p in lost:
        per_account[accounts[p.flag.user_hash]] += 1
    for account_id, count in sorted(per_account.items()):
        Account.objects.filter(pk=account_id).update(flag_count=F("flag_count") - count)


def _queue(
    integration: Integration,
    policy: Policy,
    created: dict[str, _Pending],
    accounts: dict[str, int],
    inserted: dict[str, int],
    now: datetime,
) -> None:
    """Join each flag that needs review, or was drawn for calibration, to its open case or open one.

    A group (same account, same content) with a flag that needs review opens
    a case routed by the profile's rules; a group of calibration samples only
    opens a calibration case. A flag that needs review and finds an open
    calibration case with its content turns it into a case to review.
    """
    from accounts.models import Account

    queued = {eid: p for eid, p in created.items() if p.key_signal is not None}
    if not queued:
        return
    groups: dict[tuple[int, str], list[_Pending]] = defaultdict(list)
    for p in queued.values():
        groups[(accounts[p.flag.user_hash], p.flag.content_hash)].append(p)
    account_ids = sorted({account_id for account_id, _ in groups})
    violations = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "violation_count"))

    def best(members: list[_Pending]) -> tuple[_Pending, int]:
        # A flag that needs review outranks any calibration sample.
        top = max(
            members,
            key=lambda p: (p.lead is not None, policy.priority(p.key_signal, recent_violations=0)),  # type: ignore[arg-type]
        )
        return top, policy.priority(top.key_signal, recent_violations=violations.get(accounts[top.flag.user_hash], 0))  # type: ignore[arg-type]

    def route_of(top: _Pending) -> Route:
        if top.lead is None:
            return policy.calibration_route  # type: ignore[return-value]
        return policy.route(top.lead, source=top.flag.source, language=top.flag.language)

    # The open cases are locked for the rest of the transaction: a decision closing one of them now
    # would leave these flags on a case nobody reviews again. Whatever closed before the lock is
    # not returned, and its flags open a new case.
    existing = _open_cases(groups)
    promoted = []
    for key_, members in sorted(groups.items()):
        if key_ in existing and existing[key_][2]:
            top, priority = best(members)
            if top.lead is not None:
                promoted.append((key_, existing[key_][0], top, priority, route_of(top)))
    for _key, case_id, top, priority, route in promoted:  # rare: the same content sampled, then flagged for real
        Case.objects.filter(pk=case_id, calibration=True).update(
            queue_id=route.queue_id,
            calibration=False,
            category_id=top.lead.category,  # type: ignore[union-attr]
            level=top.lead.level,  # type: ignore[union-attr]
            routing=_why(top.lead, route, calibration_rate=None),  # type: ignore[arg-type]
            priority=priority,
        )
    if promoted:
        existing.update(_open_cases({key_: groups[key_] for key_, *_ in promoted}))
    for _ in range(3):
        missing = sorted(k for k in groups if k not in existing)
        if not missing:
            break
        new_cases = []
        for key_ in missing:
            top, priority = best(groups[key_])
            route = route_of(top)
            signal = top.key_signal
            new_cases.append(
                Case(
                    queue_id=route.queue_id,
                    integration=integration,
                    account_id=key_[0],
                    content_hash=key_[1],
                    priority=priority,
                    category_id=signal.category,  # type: ignore[union-attr]
                    level=signal.level,  # type: ignore[union-attr]
                    routing=_why(signal, route, calibration_rate=None if top.lead else policy.calibration_rate),  # type: ignore[arg-type]
                    calibration=top.lead is None,
                    profile_version_id=policy.profile_version_id,
                    routing_version_id=policy.routing_version_id,
                    flag_count=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        # A concurrent batch may open the same case first; the partial unique
        # constraint then keeps ours out and the re-read below finds theirs.
        Case.objects.bulk_create(new_cases, ignore_conflicts=True)
        existing.update(_open_cases({k: groups[k] for k in missing}))
    if any(k not in existing for k in groups):  # each attempt lost to a decision closing the case it found
        raise RuntimeError("no open case could be found or made for every account/content pair of the batch")
    joins: list[tuple[int, int, int]] = []
    links: list[tuple[int, int]] = []
    for key_, members in groups.items():
        case_id, queue_slug, _ = existing[key_]
        _, priority = best(members)
        joins.append((case_id, len(members), priority))
        for p in members:
            p.outcome.queued, p.outcome.case, p.outcome.queue = True, case_id, queue_slug
            links.append((inserted[p.flag.external_id], case_id))
    join_cases(joins, now=now)
    set_flag_cases(links)


def _open_cases(groups: dict[tuple[int, str], Any]) -> dict[tuple[int, str], tuple[int, str, bool]]:
    account_ids = {a for a, _ in groups}
    hashes = {h for _, h in groups}
    found = (
        Case.objects.exclude(status=CaseStatus.CLOSED)
        .filter(account_id__in=account_ids, content_hash__in=hashes)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("account_id", "content_hash", "pk", "queue__slug", "calibration")
    )
    return {(a, h): (pk, slug, sample) for a, h, pk, slug, sample in found if (a, h) in groups}


def _why(signal: JudgedSignal, route: Any, *, calibration_rate: float | None) -> dict[str, Any]:
    why = {
        "category": signal.category,
        "label": signal.label,
        "level": signal.level.label,
        "score": signal.score,
        "threshold": signal.threshold.value,
        "rule": route.rule,
        "queue": route.queue_slug,
    }
    if calibration_rate is not None:
        why["calibration_rate"] = calibration_rate
    return why
