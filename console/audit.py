"""The one way to write the audit log, and the check that it is intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from console.models import HASHED_FIELDS, AuditEntry, AuditHead, AuditVerb, chain_hash, jsonable

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class SystemActor:
    """A non-human actor: a periodic job, a management command run by ops."""

    label: str


SYSTEM = SystemActor("system")


def _actor_fields(actor: Any) -> tuple[str, str, str]:
    if actor is None or isinstance(actor, SystemActor):
        return "system", "", (actor or SYSTEM).label
    kind = getattr(actor, "audit_actor_type", None)
    if kind:  # an integration or an API key
        return kind, str(actor.pk), str(actor)[:150]
    return "user", str(actor.pk), actor.get_username()[:150]


def _target_fields(target: Any) -> tuple[str, str, str]:
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:200]
    kind, ident = target
    return str(kind), str(ident), ""


def unsaved_entry(
    *,
    actor: Any,
    verb: AuditVerb,
    target: models.Model | tuple[str, object],
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEntry:
    """The entry `record` would append, not yet linked into the chain."""
    actor_type, actor_id, actor_label = _actor_fields(actor)
    target_type, target_id, target_label = _target_fields(target)
    return AuditEntry(
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        verb=AuditVerb(verb),
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        before=jsonable(before),
        after=jsonable(after),
        reason=reason,
    )


# No savepoint: an entry that fails to write must undo the caller's change
# anyway, and SAVEPOINT/RELEASE would cost two round trips, one of them while
# the head is locked.
@transaction.atomic(savepoint=False)
def record(
    *,
    actor: Any,
    verb: AuditVerb,
    target: models.Model | tuple[str, object],
    before: Any = None,
    after: Any = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction.

    The head row is locked for the rest of the transaction, so concurrent
    writers queue here and each links to the entry committed before it.
    """
    entry = unsaved_entry(actor=actor, verb=verb, target=target, before=before, after=after, reason=reason)
    if connection.vendor == "postgresql":
        _append_in_one_statement(entry)
    else:
        _append(entry)
    return entry


def _append(entry: AuditEntry) -> None:
    AuditHead.objects.get_or_create(pk=1)
    head = AuditHead.objects.select_for_update().get(pk=1)
    entry.seq, entry.prev_hash, entry.created_at = head.seq + 1, head.hash, timezone.now()
    entry.hash = entry.compute_hash()
    entry.save(force_insert=True)
    AuditHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)


def hash_sql(*, seq: str, prev_hash: str, created_at: str, rest: str) -> str:
    """AuditEntry.compute_hash as a SQL expression over the given SQL expressions.

    `rest` is the JSON that `rest_json` renders (everything after the seq, the
    previous hash and the time); the time is rendered here as Python's
    isoformat() renders it, so verify_chain recomputes the same hash.
    """
    utc = f"({created_at}) AT TIME ZONE 'UTC'"
    return (
        f"encode(sha256(convert_to('[' || ({seq}) || ',\"' || ({prev_hash}) || '\",\"'"
        f" || to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE to_char({utc}, 'US') WHEN '000000' THEN '' ELSE '.' || to_char({utc}, 'US') END"
        f" || '+00:00\",' || ({rest}), 'UTF8')), 'hex')"
    )


def rest_json(entry: AuditEntry) -> str:
    """AuditEntry.compute_hash's payload after seq, prev_hash and created_at, rendered the same way."""
    return json.dumps(
        [
            entry.actor_type,
            entry.actor_id,
            entry.actor_label,
            entry.verb,
            entry.target_type,
            entry.target_id,
            entry.target_label,
            entry.before,
            entry.after,
            entry.reason,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )[1:]


# Every writer waits for the head, and holds it until its transaction commits.
# Locking it, linking the entry and moving the head in one statement means the
# lock is held for that statement's end and the COMMIT, instead of for three
# more round trips to Python, each of which has to wait for a CPU (or the GIL)
# while every other writer waits for it. The hash is computed in SQL over the
# same JSON that AuditEntry.compute_hash builds, which verify_chain checks.
_APPEND_SQL = f"""
WITH head AS (
    SELECT seq + 1 AS seq, hash AS prev_hash FROM console_audithead WHERE id = 1 FOR UPDATE
), stamped AS (
    SELECT seq, prev_hash, clock_timestamp() AS created_at FROM head
), entry AS (
    INSERT INTO console_auditentry (seq, created_at, actor_type, actor_id, actor_label, verb, target_type,
                                    target_id, target_label, before, after, reason, prev_hash, hash)
    SELECT seq, created_at, %(actor_type)s, %(actor_id)s, %(actor_label)s, %(verb)s, %(target_type)s,
           %(target_id)s, %(target_label)s, %(before)s::jsonb, %(after)s::jsonb, %(reason)s, prev_hash,
           {hash_sql(seq="seq", prev_hash="prev_hash", created_at="created_at", rest="%(rest)s")}
    FROM stamped
    RETURNING id, seq, created_at, prev_hash, hash
)
UPDATE console_audithead AS h SET seq = entry.seq, hash = entry.hash FROM entry WHERE h.id = 1
RETURNING entry.id, entry.seq, entry.created_at, entry.prev_hash, entry.hash
"""


def _append_in_one_statement(entry: AuditEntry) -> None:
    params = {
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "verb": str(entry.verb),
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_label": entry.target_label,
        "before": None if entry.before is None else json.dumps(entry.before),
        "after": None if entry.after is None else json.dumps(entry.after),
        "reason": entry.reason,
        "rest": rest_json(entry),
    }
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, params)
        row = cursor.fetchone()
    if row is None:  # a fresh or flushed database has no head yet: make it, then append
        AuditHead.objects.get_or_create(pk=1)
        with connection.cursor() as cursor:
            cursor.execute(_APPEND_SQL, params)
            row = cursor.fetchone()
    entry.pk, entry.seq, entry.created_at, entry.prev_hash, entry.hash = row
    entry._state.adding, entry._state.db = False, connection.alias
    if entry.compute_hash() != entry.hash:  # rolls the caller back rather than commit a chain verify_chain rejects
        raise RuntimeError(f"audit entry #{entry.seq}: the hash computed in SQL differs from compute_hash()")


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify_chain(*, chunk_size: int = 10_000) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain; return how many entries were checked and the first break.

    The head is read first and the walk stops at it: entries appended while
    the walk runs (a live console writes them all the time) are not half
    seen, and every entry up to the head was committed before the head was
    read, since each writer moves the head in the entry's own transaction.
    """
    head = AuditHead.objects.filter(pk=1).values_list("seq", "hash").first()
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for stored_hash, *values in _rows(upto=head[0] if head else None, chunk_size=chunk_size):
        seq, link = values[0], values[1]
        if seq != expected_seq:
            return checked, ChainBreak(expected_seq, f"entry #{expected_seq} is missing (next is #{seq})")
        if link != prev_hash:
            return checked, ChainBreak(seq, "its link to the previous entry does not match")
        if chain_hash(values) != stored_hash:
            return checked, ChainBreak(seq, "its content does not match its hash (changed after writing)")
        prev_hash, expected_seq, checked = stored_hash, expected_seq + 1, checked + 1
    if head is None:
        return checked, None
    if head[0] != checked:
        missing = f"entries after #{checked} are missing (the chain's head is #{head[0]})"
        return checked, ChainBreak(checked + 1, missing)
    if checked and head[1] != prev_hash:
        return checked, ChainBreak(checked, "the chain's head does not match this last entry")
    # An entry past the head was not written by record(), which moves the head in the same statement.
    # The newest entry is read before the head, so one appended meanwhile is under the head by then.
    newest = AuditEntry.objects.aggregate(newest=Max("seq"))["newest"] or 0
    tip = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    if newest > tip:
        return checked, ChainBreak(tip + 1, f"entries past the chain's head (#{tip}) are not linked into it")
    return checked, None


def _rows(*, upto: int | None, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """(hash, *HASHED_FIELDS) of every entry up to `upto`, in seq order.

    Keyset pages of plain tuples: memory stays flat on a million rows, each
    page is one index range scan, and no transaction stays open for the walk.
    """
    entries = AuditEntry.objects.order_by("seq")
    if upto is not None:
        entries = entries.filter(seq__lte=upto)
    last = 0
    while True:
        page = list(entries.filter(seq__gt=last).values_list("hash", *HASHED_FIELDS)[:chunk_size])
        if not page:
            return
        yield from page
        last = page[-1][1]
