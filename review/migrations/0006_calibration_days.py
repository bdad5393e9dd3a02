import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0005_concurrent_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='CalibrationDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('source', models.CharField(max_length=20)),
                ('level', models.PositiveSmallIntegerField(choices=[(0, 'negligible'), (1, 'low'), (2, 'medium'), (3, 'high')])),
                ('flags', models.PositiveIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name='CalibrationRollup',
            fields=[
                ('day', models.DateField(primary_key=True, serialize=False)),
                ('rolled_at', models.DateTimeField()),
            ],
        ),
        migrations.AddField(
            model_name='calibrationday',
            name='category',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='review.category'),
        ),
        migrations.AddField(
            model_name='calibrationday',
            name='integration',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='review.integration'),
        ),
        migrations.AddConstraint(
            model_name='calibrationday',
            constraint=models.UniqueConstraint(fields=('day', 'integration', 'source', 'category', 'level'), name='calibration_day_unique'),
        ),
    ]
