"""The one way to write the audit log, and the check that it is intact."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from console.models import AuditEntry, AuditHead, AuditVerb, jsonable

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


@transaction.atomic
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
    AuditHead.objects.get_or_create(pk=1)
    head = AuditHead.objects.select_for_update().get(pk=1)
    actor_type, actor_id, actor_label = _actor_fields(actor)
    target_type, target_id, target_label = _target_fields(target)
    entry = AuditEntry(
        seq=head.seq + 1,
        created_at=timezone.now(),
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
        prev_hash=head.hash,
    )
    entry.hash = entry.compute_hash()
    entry.save(force_insert=True)
    AuditHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)
    return entry


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify_chain(*, chunk_size: int = 5000) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain; return how many entries were checked and the first break."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for entry in _entries(chunk_size):
        if entry.seq != expected_seq:
            return checked, ChainBreak(expected_seq, f"entry #{expected_seq} is missing (next is #{entry.seq})")
        if entry.prev_hash != prev_hash:
            return checked, ChainBreak(entry.seq, "its link to the previous entry does not match")
        if entry.compute_hash() != entry.hash:
            return checked, ChainBreak(entry.seq, "its content does not match its hash (changed after writing)")
        prev_hash, expected_seq, checked = entry.hash, expected_seq + 1, checked + 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (checked, prev_hash if checked else head.hash):
        return checked, ChainBreak(
            checked + 1, f"entries after #{checked} are missing (the chain's head is #{head.seq})"
        )
    return checked, None


def _entries(chunk_size: int) -> Iterator[AuditEntry]:
    # Keyset pages keep memory flat on a million rows on every database.
    last = 0
    while True:
        page = list(AuditEntry.objects.filter(seq__gt=last).order_by("seq")[:chunk_size])
        if not page:
            return
        yield from page
        last = page[-1].seq
