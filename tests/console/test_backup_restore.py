"""The backup and restore that docs/operations.md describes, tried once: dump, lose, restore, verify.

The database with data is the test database, filled through the services
(flags, cases, decisions, an action and its webhook outbox, staff, the
audit entries all of that wrote). It is dumped with `pg_dump -Fc`; the
replacement is an empty database on the same server (dropped and created
again, as after a loss); `pg_restore` fills it; then, against the restored
database only: `manage.py verify_audit` passes over every entry, every
table holds the same rows, a new audited write works (the sequences came
back) and the audit table still refuses UPDATE (its trigger came back).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.sql
import pytest
from django.db import connection
from django.test import Client

from accounts.models import ActionKind
from accounts.services import apply_action, approve_action, create_endpoint, propose_action
from console.models import AuditEntry
from review.models import Category, Outcome
from tests.factories import Api, flag_payload, make_case, make_decision, make_key
from tests.servers import app_env, postgres_tool, run_manage, shared_test_database_url

# Run in the restored database: one more audited change, through a service.
WRITE_AFTER_RESTORE = """
from console.audit import SYSTEM, record
from console.models import AuditVerb
entry = record(actor=SYSTEM, verb=AuditVerb.QUEUE_CHANGED, target=("review.queue", 1), reason="after restore")
print("RECORDED", entry.seq)
"""


def _url(dbname: str) -> str:
    """A database on the test database's server, as a URL (what DATABASE_URL, pg_dump and psycopg all read)."""
    return urlunsplit(urlsplit(shared_test_database_url())._replace(path=f"/{dbname}"))


@pytest.fixture
def replacement() -> Iterator[str]:
    """The empty database a restore goes into, named after the test database; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restore"
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        drop = psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        admin.execute(drop)
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        try:
            yield name
        finally:
            admin.execute(drop)


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {
            t: conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(t))).fetchone()[0]
            for t in tables
        }


@pytest.mark.postgres
def test_a_dump_restored_into_an_empty_database_verifies_and_holds_every_row(
    transactional_db: None, integration: Any, reviewer: Any, senior: Any, ops: Any, replacement: str, tmp_path: Path
) -> None:
    api = Api(Client(), make_key(integration).secret)
    assert api.post_flags(*[flag_payload(user=f"u{i % 4}", prompt=f"text {i}") for i in range(12)]).status_code == 200
    hate = Category.objects.get(pk="hate")
    case = make_case(integration, user="repeat-offender", prompt="threat")
    decision = make_decision(case, reviewer, outcome=Outcome.VIOLATING, category=hate, severity="high")
    # Nothing listens there: the delivery fails at once and stays pending, in the outbox that is backed up too.
    create_endpoint(actor=ops, integration=integration, url="http://127.0.0.1:9/hooks", events=[])
    action = propose_action(actor=senior, account=decision.case.account, kind=ActionKind.WARN, reason="threats")
    approve_action(actor=senior, action=action, reason="agreed")
    apply_action(actor=senior, action=action, reason="go")
    entries = AuditEntry.objects.count()
    assert entries >= 10
    before = row_counts(shared_test_database_url())
    connection.close()  # nothing of ours is mid-transaction while pg_dump takes its snapshot

    # The backup, as docs/operations.md has it.
    dump = tmp_path / "docket.dump"
    subprocess.run(
        [postgres_tool("pg_dump"), "--format=custom", "--file", str(dump), "--dbname", shared_test_database_url()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # The restore, into the empty database that replaces the lost one.
    restored = subprocess.run(
        [postgres_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", _url(replacement), str(dump)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr

    env = app_env(database_url=_url(replacement))
    assert f"Audit chain intact: {entries} entries verified" in run_manage("verify_audit", env=env)
    assert row_counts(_url(replacement)) == before

    # The restored database takes new writes: its sequences and the chain's head came back too.
    assert f"RECORDED {entries + 1}" in run_manage("shell", "-c", WRITE_AFTER_RESTORE, env=env)
    assert f"Audit chain intact: {entries + 1} entries verified" in run_manage("verify_audit", env=env)
    # And the audit log is still append-only.
    with (
        psycopg.connect(_url(replacement), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute("UPDATE console_auditentry SET reason = 'rewritten' WHERE seq = 1")
