from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from console import audit
from console.audit import record, verify_chain
from console.models import AuditEntry, AuditHead, AuditVerb


def _write(n: int) -> list[AuditEntry]:
    return [
        record(actor=None, verb=AuditVerb.QUEUE_CHANGED, target=("review.queue", i), after={"n": i}, reason=f"r{i}")
        for i in range(1, n + 1)
    ]


@pytest.mark.django_db
def test_entries_form_a_contiguous_hash_chain() -> None:
    entries = _write(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert AuditHead.objects.get(pk=1).hash == entries[2].hash
    assert verify_chain() == (3, None)


@pytest.mark.django_db
def test_a_changed_entry_is_named_by_verify_audit() -> None:
    _write(4)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE console_auditentry DISABLE TRIGGER console_auditentry_append_only")
        cursor.execute("UPDATE console_auditentry SET reason = 'nothing to see' WHERE seq = 3")
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE console_auditentry ENABLE TRIGGER console_auditentry_append_only")
    with pytest.raises(CommandError, match=r"broken at entry #3: its content does not match"):
        call_command("verify_audit")


@pytest.mark.django_db
@pytest.mark.parametrize(("seq", "message"), [(2, "entry #2 is missing"), (4, "entries after #3 are missing")])
def test_a_deleted_entry_is_named_by_verify_audit(seq: int, message: str) -> None:
    _write(4)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE console_auditentry DISABLE TRIGGER console_auditentry_append_only")
        cursor.execute("DELETE FROM console_auditentry WHERE seq = %s", [seq])
    _checked, broken = verify_chain()
    assert broken is not None and message in broken.problem


@pytest.mark.django_db
def test_verify_audit_reports_an_intact_chain(capsys) -> None:
    _write(2)
    call_command("verify_audit")
    assert "Audit chain intact: 2 entries verified" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE console_auditentry SET reason = 'x'", "DELETE FROM console_auditentry"])
def test_postgresql_refuses_to_change_or_delete_audit_rows(statement: str) -> None:
    _write(1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEntry.objects.get(seq=1).reason == "r1"


@pytest.mark.django_db
def test_an_entry_appended_while_verify_audit_runs_is_not_taken_for_a_break(monkeypatch) -> None:
    _write(4)
    walk = audit._rows

    def walk_then_append(**kwargs):  # type: ignore[no-untyped-def]
        yield from walk(**kwargs)
        _write(1)  # a reviewer claims a case just as the walk ends, before the head is compared

    monkeypatch.setattr(audit, "_rows", walk_then_append)

    assert verify_chain() == (4, None)
    assert AuditEntry.objects.count() == 5


@pytest.mark.django_db
def test_an_entry_written_past_the_head_is_named() -> None:
    [last] = _write(1)
    forged = AuditEntry(
        seq=2,
        created_at=last.created_at,
        actor_type="system",
        actor_label="system",
        verb=AuditVerb.QUEUE_CHANGED,
        target_type="review.queue",
        target_id="9",
        prev_hash=last.hash,
    )
    forged.hash = forged.compute_hash()
    forged.save()

    checked, broken = verify_chain()

    assert checked == 1
    assert broken is not None and broken.seq == 2
    assert "past the chain's head (#1)" in broken.problem


@pytest.mark.django_db
def test_a_head_that_does_not_match_the_last_entry_is_named() -> None:
    _write(2)
    AuditHead.objects.filter(pk=1).update(hash="f" * 64)

    assert verify_chain()[1] == audit.ChainBreak(2, "the chain's head does not match this last entry")


@pytest.mark.django_db
def test_verify_audit_walks_past_a_page_boundary() -> None:
    _write(5)

    assert verify_chain(chunk_size=2) == (5, None)
