"""The triggers that bump PolicyState on every change to a policy table (see review/policy.py).

Migrations call `install` with the table list as it stands at that point of
the schema, frozen in the migration: a later table added here must not be
looked for by an earlier migration. On SQLite, Django rebuilds a table to
alter most columns, and the rebuild drops the table's triggers: a migration
that alters a policy table there must call `install` again afterwards (it is
idempotent), and tests/review/test_policy_triggers.py checks that every
table below has them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Every table a Policy snapshot is built from (review/policy.py load_policy).
POLICY_TABLES = [
    "review_category",
    "review_labelmapping",
    "review_sourcesettings",
    "review_policyprofile",
    "review_profilethreshold",
    "review_integration",
    "review_queue",
    "review_routingrule",
    "review_routingrule_profiles",
    "review_routingrule_integrations",
    "review_profileversion",
    "review_mappingversion",
    "review_routingversion",
]

SQLITE_EVENTS = ("insert", "update", "delete")


def install(schema_editor: Any, tables: Iterable[str]) -> None:
    """(Re)create the bump triggers on `tables`; safe to run again."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            """CREATE OR REPLACE FUNCTION docket_bump_policy_version() RETURNS trigger AS $$
            BEGIN
                UPDATE review_policystate SET version = floor(random() * 9e18)::bigint WHERE id = 1;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;""",
            params=None,
        )
        for table in tables:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_policy ON {table}", params=None)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_bumps_policy AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION docket_bump_policy_version()",
                params=None,
            )
    elif vendor == "sqlite":
        for table in tables:
            for event in SQLITE_EVENTS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_bumps_policy", params=None)
                schema_editor.execute(  # names from the migration's fixed list, never from input
                    f"CREATE TRIGGER {table}_{event}_bumps_policy AFTER {event.upper()} ON {table} "  # noqa: S608
                    "BEGIN UPDATE review_policystate SET version = random() WHERE id = 1; END",
                    params=None,
                )


def uninstall(schema_editor: Any, tables: Iterable[str]) -> None:
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_policy ON {table}", params=None)
        elif vendor == "sqlite":
            for event in SQLITE_EVENTS:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_bumps_policy", params=None)


def installed(connection: Any) -> dict[str, int]:
    """Table → how many bump triggers it has, as the database reports them."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE %s GROUP BY c.relname",
                ["%\\_bumps\\_policy"],
            )
        else:
            cursor.execute(
                "SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s "
                "GROUP BY tbl_name",
                ["%bumps_policy"],
            )
        return dict(cursor.fetchall())
