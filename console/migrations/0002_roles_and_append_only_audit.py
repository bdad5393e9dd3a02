from __future__ import annotations

from django.db import migrations

from console.roles import sync_roles

PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION docket_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on console_auditentry refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER console_auditentry_append_only
    BEFORE UPDATE OR DELETE ON console_auditentry
    FOR EACH ROW EXECUTE FUNCTION docket_audit_append_only();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS console_auditentry_append_only ON console_auditentry;
DROP FUNCTION IF EXISTS docket_audit_append_only();
"""


def install_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    # PostgreSQL only: SQLite is the demo database, and Django's test flush
    # there is a DELETE the trigger would refuse. verify_audit covers both.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPEND_ONLY, params=None)


def drop_trigger(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)


def create_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    sync_roles(apps)


def create_head(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("console", "AuditHead").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(create_head, migrations.RunPython.noop),
        migrations.RunPython(install_trigger, drop_trigger),
    ]
