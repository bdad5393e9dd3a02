"""The indexes retention and calibration read: flags whose text is still there, per integration,
oldest first; the calibration sample's cases by the time they were last touched.

Built CONCURRENTLY on PostgreSQL so that ingestion keeps writing flags while
it builds on a large table (hence a migration of its own, outside a
transaction); a plain CREATE INDEX elsewhere.
"""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, from_state.models[app_label, self.model_name_lower].get_index_by_name(
                self.index.name), concurrently=True)
        return None


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("review", "0004_calibration_and_retention")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="flag",
            index=models.Index(
                condition=models.Q(("text_removed_at__isnull", True)),
                fields=["integration", "received_at"],
                name="flag_text_kept",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="case",
            index=models.Index(condition=models.Q(("calibration", True)), fields=["updated_at"], name="case_calibration"),
        ),
    ]
