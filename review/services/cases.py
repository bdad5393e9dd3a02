"""The reviewer's loop: claim a case, hold it, decide it; and the senior's corrections."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from console.audit import SYSTEM, hash_sql, record, rest_json, unsaved_entry
from console.metrics import observe_claim
from console.models import AuditVerb
from review.models import Case, CaseSkip, CaseStatus, Category, Decision, Outcome, Queue, Severity


class CaseNotHeld(Exception):
    """The actor does not hold this case (never claimed it, lost the lease, or it is decided)."""


class InvalidDecision(ValueError):
    pass


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    category: Category | None = None
    severity: Severity | None = None
    note: str = ""

    def check(self) -> None:
        if self.outcome == Outcome.VIOLATING and (self.category is None or not self.severity):
            raise InvalidDecision("A violating decision needs a category and a severity.")
        if self.outcome == Outcome.ESCALATED and not self.note.strip():
            raise InvalidDecision("Say why you escalate: the senior reviewer reads it first.")


def _lease_fields(queue: Queue, actor: User, now: Any) -> dict[str, Any]:
    return {
        "status": CaseStatus.CLAIMED,
        "claimed_by": actor,
        "claimed_at": now,
        "lease_expires_at": now + timedelta(minutes=queue.lease_minutes),
        "updated_at": now,
    }


def claim_next_case(*, actor: User, queue: Queue) -> Case | None:
    """Lease the highest-priority, oldest open case of `queue` to `actor`, or None if there is none.

    A case the actor already holds in this queue comes back first (a reload
    must not grab a second one). On PostgreSQL the row is taken with
    FOR UPDATE SKIP LOCKED, so concurrent claimers pass each other instead of
    queueing; on SQLite the IMMEDIATE transaction serialises claimers.
    Leases that ran out in this queue are returned to it on the way. Its
    duration goes to the claim latency histogram (/metrics).
    """
    started = time.perf_counter()
    case = _claim_next_case(actor, queue)
    observe_claim(time.perf_counter() - started, claimed=case is not None)
    return case


def _claim_next_case(actor: User, queue: Queue) -> Case | None:
    if connection.vendor == "postgresql":
        case, leases_expired = _claim_in_one_statement(actor, queue)
        # Cases whose lease ran out rejoin the queue for this claim (when it
        # found nothing) or the next one; the periodic job sweeps the rest.
        if (case is None or leases_expired) and expire_leases(queue=queue) and case is None:
            case, _ = _claim_in_one_statement(actor, queue)
        return case
    expire_leases(queue=queue)
    now = timezone.now()
    with transaction.atomic():
        held = (
            Case.objects.filter(queue=queue, status=CaseStatus.CLAIMED, claimed_by=actor, lease_expires_at__gt=now)
            .order_by("claimed_at")
            .first()
        )
        if held is not None:
            return held
        case = (
            Case.objects.filter(queue=queue, status=CaseStatus.OPEN)
            .exclude(skips__reviewer=actor)
            .order_by("-priority", "created_at")
            .first()
        )
        if case is None:
            return None
        for name, value in _lease_fields(queue, actor, now).items():
            setattr(case, name, value)
        case.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at", "updated_at"])
        record(actor=actor, verb=AuditVerb.CASE_CLAIMED, target=case, after=_claim_audit(queue, case.lease_expires_at))
        return case


def _claim_audit(queue: Queue, lease_expires_at: Any) -> dict[str, str]:
    return {"queue": queue.slug, "lease_expires_at": lease_expires_at.isoformat()}


# The claim is the reviewer's hottest path and every claimer queues for the
# audit chain's head, so on PostgreSQL it is one statement, run as its own
# transaction: find the held case or pick the next open one (SKIP LOCKED),
# lease it, and append its `case.claimed` entry (the chain's head is locked
# only when a case was taken, and only until this statement commits). It also
# says whether a lease in the queue has run out. The case's id is spliced
# into the entry's hashed JSON where `{CASE}` stands.
_CASE_MARK = "{CASE}"
_CLAIM_SQL = f"""
WITH held AS (
    SELECT id FROM review_case
    WHERE queue_id = %(queue)s AND status = 'claimed' AND claimed_by_id = %(actor)s AND lease_expires_at > %(now)s
    ORDER BY claimed_at LIMIT 1
), pick AS (
    SELECT c.id FROM review_case c
    WHERE c.queue_id = %(queue)s AND c.status = 'open' AND NOT EXISTS (SELECT 1 FROM held)
      AND NOT EXISTS (SELECT 1 FROM review_caseskip s WHERE s.case_id = c.id AND s.reviewer_id = %(actor)s)
    ORDER BY c.priority DESC, c.created_at
    LIMIT 1 FOR UPDATE OF c SKIP LOCKED
), claimed AS (
    UPDATE review_case c
    SET status = 'claimed', claimed_by_id = %(actor)s, claimed_at = %(now)s, lease_expires_at = %(expires)s,
        updated_at = %(now)s
    FROM pick WHERE c.id = pick.id
    RETURNING c.*
), head AS (
    SELECT h.seq + 1 AS seq, h.hash AS prev_hash, claimed.id::text AS case_id, clock_timestamp() AS created_at,
           replace(%(rest)s, '{_CASE_MARK}', claimed.id::text) AS rest
    FROM console_audithead h, claimed WHERE h.id = 1
    FOR UPDATE OF h
), entry AS (
    INSERT INTO console_auditentry (seq, created_at, actor_type, actor_id, actor_label, verb, target_type,
                                    target_id, target_label, before, after, reason, prev_hash, hash)
    SELECT seq, created_at, %(actor_type)s, %(actor_id)s, %(actor_label)s, %(verb)s, 'review.case',
           case_id, 'case ' || case_id, NULL, %(after)s::jsonb, '', prev_hash,
           {hash_sql(seq="seq", prev_hash="prev_hash", created_at="created_at", rest="rest")}
    FROM head
    RETURNING seq, hash
), moved AS (
    UPDATE console_audithead h SET seq = entry.seq, hash = entry.hash FROM entry WHERE h.id = 1
    RETURNING h.seq
), expired AS (
    SELECT EXISTS (
        SELECT 1 FROM review_case
        WHERE queue_id = %(queue)s AND status = 'claimed' AND lease_expires_at <= %(now)s
    ) AS leases_expired
)
SELECT claimed.*, true AS taken, (SELECT seq FROM moved) AS audit_seq, expired.leases_expired FROM claimed, expired
UNION ALL
SELECT c.*, false, NULL, expired.leases_expired FROM review_case c JOIN held ON c.id = held.id, expired
UNION ALL
SELECT (NULL::review_case).*, false, NULL, expired.leases_expired FROM expired
"""


class _ClaimColumns(Protocol):
    """The columns _CLAIM_SQL adds to the case rows it returns (raw() sets them as attributes)."""

    taken: bool
    audit_seq: int | None
    leases_expired: bool


def _claim_in_one_statement(actor: User, queue: Queue) -> tuple[Case | None, bool]:
    now = timezone.now()
    expires = now + timedelta(minutes=queue.lease_minutes)
    after = _claim_audit(queue, expires)
    entry = unsaved_entry(actor=actor, verb=AuditVerb.CASE_CLAIMED, target=("review.case", _CASE_MARK), after=after)
    entry.target_label = f"case {_CASE_MARK}"
    rest = rest_json(entry)
    # The mark must stand only where the id goes: the user name and the queue slug cannot hold braces.
    if rest.count(_CASE_MARK) != 2:
        raise RuntimeError("the claim's audit entry holds the case mark elsewhere")
    params = {
        "queue": queue.pk,
        "actor": actor.pk,
        "now": now,
        "expires": expires,
        "rest": rest,
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "verb": str(entry.verb),
        "after": json.dumps(after),
    }
    rows = list(Case.objects.raw(_CLAIM_SQL, params))
    case = rows[0] if rows[0].pk is not None else None
    first, last = cast(_ClaimColumns, rows[0]), cast(_ClaimColumns, rows[-1])
    if case is not None and first.taken and first.audit_seq is None:
        # Only a flushed database (a test's) lacks the chain's head, which
        # migrations create; record() makes it, so the claim is still audited.
        record(actor=actor, verb=AuditVerb.CASE_CLAIMED, target=case, after=after)
    return case, bool(last.leases_expired)


def renew_lease(*, actor: User, case: Case) -> Case:
    """Extend the lease while the reviewer has the page open. Not audited: it changes nothing but time."""
    now = timezone.now()
    queue = case.queue
    updated = Case.objects.filter(pk=case.pk, status=CaseStatus.CLAIMED, claimed_by=actor).update(
        lease_expires_at=now + timedelta(minutes=queue.lease_minutes), updated_at=now
    )
    if not updated:
        raise CaseNotHeld("You no longer hold this case.")
    case.refresh_from_db(fields=["lease_expires_at", "updated_at"])
    return case


@transaction.atomic
def release_case(*, actor: User, case: Case, reason: str = "") -> Case:
    locked = _held(actor, case)
    _reopen(locked)
    record(actor=actor, verb=AuditVerb.CASE_RELEASED, target=locked, reason=reason)
    return locked


@transaction.atomic
def skip_case(*, actor: User, case: Case, reason: str) -> Case:
    if not reason.strip():
        raise InvalidDecision("Say why you skip this case.")
    locked = _held(actor, case)
    _reopen(locked)
    CaseSkip.objects.get_or_create(case=locked, reviewer=actor, defaults={"reason": reason[:500]})
    record(actor=actor, verb=AuditVerb.CASE_SKIPPED, target=locked, reason=reason)
    return locked


@transaction.atomic
def take_back_case(*, actor: User, case: Case, reason: str) -> Case:
    """A senior takes over a case someone else holds (they left, or it is urgent)."""
    if not reason.strip():
        raise InvalidDecision("Say why you take this case over.")
    locked = _locked(Case.objects.filter(pk=case.pk)).get()
    if locked.status != CaseStatus.CLAIMED or locked.claimed_by_id == actor.pk:
        raise CaseNotHeld("Only a case someone else holds can be taken back.")
    before = {"claimed_by": locked.claimed_by_id}
    now = timezone.now()
    for name, value in _lease_fields(locked.queue, actor, now).items():
        setattr(locked, name, value)
    locked.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at", "updated_at"])
    record(
        actor=actor,
        verb=AuditVerb.CASE_TAKEN_BACK,
        target=locked,
        before=before,
        after={"claimed_by": actor.pk},
        reason=reason,
    )
    return locked


def expire_leases(*, queue: Queue | None = None) -> int:
    """Return cases whose lease ran out to their queue; each return is audited."""
    now = timezone.now()
    expired = Case.objects.filter(status=CaseStatus.CLAIMED, lease_expires_at__lte=now)
    if queue is not None:
        expired = expired.filter(queue=queue)
    count = 0
    for case_id in list(expired.values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            case = (
                Case.objects.select_for_update()
                .filter(pk=case_id, status=CaseStatus.CLAIMED, lease_expires_at__lte=now)
                .first()
            )
            if case is None:
                continue  # renewed, decided or expired by someone else meanwhile
            before = {"claimed_by": case.claimed_by_id}
            _reopen(case)
            record(actor=SYSTEM, verb=AuditVerb.CASE_LEASE_EXPIRED, target=case, before=before)
            count += 1
    return count


def _locked(cases: QuerySet[Case]) -> QuerySet[Case]:
    """Lock the case rows only. FOR UPDATE without OF would also lock the joined queue row, and
    every decision, release and skip in a queue would then wait for the one before it to commit."""
    return cases.select_related("queue").select_for_update(of=("self",))


def _held(actor: User, case: Case) -> Case:
    locked = _locked(Case.objects.filter(pk=case.pk)).get()
    if not locked.held_by(actor):
        if locked.status == CaseStatus.CLOSED:
            raise CaseNotHeld("This case is already decided.")
        raise CaseNotHeld("You do not hold this case: claim it first (its lease may have run out).")
    return locked


def _reopen(case: Case) -> None:
    case.status, case.claimed_by, case.claimed_at, case.lease_expires_at = CaseStatus.OPEN, None, None, None
    case.updated_at = timezone.now()
    case.save(update_fields=["status", "claimed_by", "claimed_at", "lease_expires_at", "updated_at"])


def record_decision(*, actor: User, case: Case, verdict: Verdict, bulk: bool = False) -> Decision:
    """Decide a case the actor holds. Violating makes a violation; escalating sends it to the seniors."""
    verdict.check()
    with transaction.atomic():
        _lock_account_first(case.account_id, verdict)
        locked = _held(actor, case)
        if locked.queue.kind == Queue.Kind.APPEAL:
            raise InvalidDecision("An appeal is decided by upholding or reversing the action, not with a verdict.")
        return _decide(actor, locked, verdict, bulk=bulk)


def _lock_account_first(account_id: int, verdict: Verdict) -> None:
    """Lock the case's account before the case, when the decision will write both.

    Ingestion takes account rows first (it counts each flag on its account),
    then case rows (it joins the flag to the open case). A violating decision
    locked the case, then counted the violation on the account: with a batch
    of flags for the same account arriving meanwhile, each waited for the
    other and PostgreSQL aborted one of them (tests/review/test_claims_under_load.py).
    Other outcomes do not touch the account and need no lock.
    """
    if verdict.outcome != Outcome.VIOLATING:
        return
    from accounts.models import Account

    list(Account.objects.select_for_update().filter(pk=account_id).values_list("pk", flat=True))


def _decide(actor: User, case: Case, verdict: Verdict, *, bulk: bool) -> Decision:
    from accounts.services import record_violation

    now = timezone.now()
    decision = Decision.objects.create(
        case=case,
        reviewer=actor,
        outcome=verdict.outcome,
        category=verdict.category if verdict.outcome == Outcome.VIOLATING else None,
        severity=verdict.severity or "" if verdict.outcome == Outcome.VIOLATING else "",
        note=verdict.note,
        claimed_at=case.claimed_at,
        decided_at=now,
        handling_seconds=int((now - case.claimed_at).total_seconds()) if case.claimed_at else None,
        bulk=bulk,
    )
    before = {"status": case.status, "queue": case.queue.slug}
    if verdict.outcome == Outcome.ESCALATED:
        escalations = Queue.objects.filter(kind=Queue.Kind.ESCALATION).order_by("pk").first()
        if escalations is None:
            raise InvalidDecision("There is no escalation queue: a policy admin must create one.")
        _reopen(case)
        case.queue = escalations
        case.save(update_fields=["queue"])
        verb = AuditVerb.CASE_ESCALATED
    else:
        case.status, case.closed_at, case.updated_at = CaseStatus.CLOSED, now, now
        case.claimed_by, case.lease_expires_at = None, None
        case.save(update_fields=["status", "closed_at", "updated_at", "claimed_by", "lease_expires_at"])
        verb = AuditVerb.CASE_DECIDED
        if verdict.outcome == Outcome.VIOLATING:
            record_violation(decision=decision, occurred_at=_first_flag_time(case))
    record(actor=actor, verb=verb, target=case, before=before, after=_describe(decision, case), reason=verdict.note)
    return decision


def _first_flag_time(case: Case) -> Any:
    return case.flags.aggregate(first=Min("occurred_at"))["first"] or case.created_at


def _describe(decision: Decision, case: Case) -> dict[str, Any]:
    return {
        "decision": decision.pk,
        "outcome": decision.outcome,
        "category": decision.category_id,
        "severity": decision.severity,
        "status": case.status,
        "queue": case.queue.slug,
        "bulk": decision.bulk,
    }


@transaction.atomic
def correct_decision(*, actor: User, decision: Decision, verdict: Verdict, reason: str) -> Decision:
    """A senior replaces a decision; the account's violation follows the new one."""
    from accounts.services import record_violation, void_violation

    if not reason.strip():
        raise InvalidDecision("A correction needs a reason.")
    verdict.check()
    if verdict.outcome == Outcome.ESCALATED:
        raise InvalidDecision("A correction decides: violating or not violating.")
    old = Decision.objects.select_for_update(of=("self", "case")).select_related("case__queue").get(pk=decision.pk)
    if Decision.objects.filter(supersedes=old).exists():
        raise InvalidDecision("This decision was already corrected; correct the newest one.")
    if old.outcome == Outcome.ESCALATED:
        raise InvalidDecision("An escalation is not a decision to correct; decide the case instead.")
    now = timezone.now()
    new = Decision.objects.create(
        case=old.case,
        reviewer=actor,
        outcome=verdict.outcome,
        category=verdict.category if verdict.outcome == Outcome.VIOLATING else None,
        severity=verdict.severity or "" if verdict.outcome == Outcome.VIOLATING else "",
        note=verdict.note or reason,
        decided_at=now,
        supersedes=old,
    )
    void_violation(decision=old)
    if new.outcome == Outcome.VIOLATING:
        record_violation(decision=new, occurred_at=_first_flag_time(old.case))
    record(
        actor=actor,
        verb=AuditVerb.DECISION_CORRECTED,
        target=old.case,
        before={"decision": old.pk, "outcome": old.outcome, "category": old.category_id, "severity": old.severity},
        after={"decision": new.pk, "outcome": new.outcome, "category": new.category_id, "severity": new.severity},
        reason=reason,
    )
    return new


@dataclass
class BulkResult:
    decided: list[int]
    skipped: dict[int, str]


def apply_bulk_decision(*, actor: User, case_ids: list[int], verdict: Verdict) -> BulkResult:
    """One decision applied to many open cases (a spam wave): each gets its own decision and audit entry.

    Cases someone else holds, or already decided, are left alone and listed.
    """
    verdict.check()
    result = BulkResult(decided=[], skipped={})
    for case_id in sorted(set(case_ids)):
        with transaction.atomic():
            account_id = Case.objects.filter(pk=case_id).values_list("account_id", flat=True).first()
            if account_id is not None:  # a case's account never changes: read it before locking in order
                _lock_account_first(account_id, verdict)
            case = _locked(Case.objects.filter(pk=case_id)).first()
            if case is None:
                result.skipped[case_id] = "no such case"
                continue
            if case.status == CaseStatus.CLOSED:
                result.skipped[case_id] = "already decided"
                continue
            if case.status == CaseStatus.CLAIMED and case.claimed_by_id != actor.pk:
                result.skipped[case_id] = "held by another reviewer"
                continue
            if case.queue.kind == Queue.Kind.APPEAL:
                result.skipped[case_id] = "an appeal (uphold or reverse it instead)"
                continue
            now = timezone.now()
            if case.status == CaseStatus.OPEN:
                for name, value in _lease_fields(case.queue, actor, now).items():
                    setattr(case, name, value)
            _decide(actor, case, verdict, bulk=True)
            result.decided.append(case_id)
    return result
