from decimal import Decimal
from importlib import import_module

import django.core.validators
from django.db import migrations, models


def reinstall_sqlite_policy_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    """SQLite adds these columns and constraints by rebuilding the table, which drops its triggers:
    put back the ones that bump the policy version (0003), or a changed profile would go unnoticed."""
    if schema_editor.connection.vendor != "sqlite":
        return
    for table in import_module("review.migrations.0003_policy_state").POLICY_TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            schema_editor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_{event.lower()}_bumps_policy AFTER {event} ON {table} "
                "BEGIN UPDATE review_policystate SET version = random() WHERE id = 1; END",
                params=None,
            )


def ensure_calibration_queue(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Sampled flags need a queue of kind calibration; 0002 seeds one, an admin may have changed it since."""
    Queue = apps.get_model("review", "Queue")
    if not Queue.objects.filter(kind="calibration").exists():
        Queue.objects.create(
            name="Calibration" if not Queue.objects.filter(name="Calibration").exists() else "Calibration sample",
            slug="calibration" if not Queue.objects.filter(slug="calibration").exists() else "calibration-sample",
            kind="calibration",
            priority=-100,
            sla_minutes=7 * 24 * 60,
            description="A random sample of flags below threshold, to measure precision.",
        )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_list_sort_indexes'),
        ('review', '0003_policy_state'),
    ]

    operations = [
        migrations.AddField(
            model_name='case',
            name='calibration',
            field=models.BooleanField(default=False, help_text='Opened for a random sample of flags below threshold, to measure precision.'),
        ),
        migrations.AddField(
            model_name='integration',
            name='retention_days',
            field=models.PositiveSmallIntegerField(default=90, help_text="Days its flags' prompt and response text is kept once their case is settled.", validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(3650)]),
        ),
        migrations.AddField(
            model_name='policyprofile',
            name='calibration_rate',
            field=models.DecimalField(decimal_places=2, default=Decimal('1.00'), help_text='Percent of the flags below every threshold sent to the calibration queue; 0 turns sampling off.', max_digits=5, validators=[django.core.validators.MinValueValidator(Decimal('0')), django.core.validators.MaxValueValidator(Decimal('100'))]),
        ),
        migrations.AddConstraint(
            model_name='integration',
            constraint=models.CheckConstraint(condition=models.Q(('retention_days__gte', 1), ('retention_days__lte', 3650)), name='retention_days_range'),
        ),
        migrations.AddConstraint(
            model_name='policyprofile',
            constraint=models.CheckConstraint(condition=models.Q(('calibration_rate__gte', 0), ('calibration_rate__lte', 100)), name='calibration_rate_percent'),
        ),
        migrations.RunPython(reinstall_sqlite_policy_triggers, migrations.RunPython.noop),
        migrations.RunPython(ensure_calibration_queue, migrations.RunPython.noop),
    ]
