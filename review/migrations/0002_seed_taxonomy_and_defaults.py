"""Seed the taxonomy, the adapters' label maps and cut points, the default
policy profile (PaLM's defaults) and the standard queues.

The values are copied from review.adapters.defaults at the time this runs;
afterwards they are data that policy admins edit in the console.
"""

from __future__ import annotations

from django.db import migrations

from review.adapters import defaults

WEIGHTS = {"child_safety": 1000, "self_harm": 300, "violence": 200, "dangerous": 200, "cyber": 150, "hate": 150}
# Everything else: medium. Child safety is not adjustable: reviewed from low up whatever a profile says, so
# its stored threshold says so too (migration 0004 sets it on databases seeded before).
PALM_DEFAULTS = {"hate": "low", "harassment": "low", "child_safety": "low"}


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    Category = apps.get_model("review", "Category")
    LabelMapping = apps.get_model("review", "LabelMapping")
    SourceSettings = apps.get_model("review", "SourceSettings")
    PolicyProfile = apps.get_model("review", "PolicyProfile")
    ProfileThreshold = apps.get_model("review", "ProfileThreshold")
    Queue = apps.get_model("review", "Queue")
    RoutingRule = apps.get_model("review", "RoutingRule")

    for position, data in enumerate(defaults.CATEGORIES):
        Category.objects.update_or_create(
            slug=data["slug"],
            defaults={
                "name": data["name"],
                "description": data["description"],
                "harm_dimensions": list(data["harm_dimensions"]),
                "sensitive": data["sensitive"],
                "adjustable": data["adjustable"],
                "position": position,
                "weight": WEIGHTS.get(data["slug"], 100),
            },
        )
    for source, mapping in defaults.LABEL_MAP.items():
        LabelMapping.objects.bulk_create(
            [LabelMapping(source=source, label=label, category_id=slug) for label, slug in mapping.items()],
            ignore_conflicts=True,
        )
    from review.adapters import ADAPTERS

    for source in ADAPTERS:
        SourceSettings.objects.update_or_create(
            source=source,
            defaults={
                "cut_points": defaults.CUT_POINTS.get(source),
                "severity_levels": {str(k): v for k, v in defaults.SEVERITY_LEVELS.items()}
                if source == "azure"
                else None,
                "unsafe_level": defaults.DEFAULT_UNSAFE_LEVEL,
            },
        )
    profile, _ = PolicyProfile.objects.get_or_create(
        name="Default",
        defaults={
            "description": "PaLM's default safety settings: low and above for hate and harassment, "
            "medium and above for everything else."
        },
    )
    for category in Category.objects.all():
        ProfileThreshold.objects.get_or_create(
            profile=profile, category=category, defaults={"threshold": PALM_DEFAULTS.get(category.slug, "medium")}
        )

    general, _ = Queue.objects.get_or_create(
        slug="general",
        defaults={
            "name": "General",
            "is_default": True,
            "sla_minutes": 24 * 60,
            "description": "Everything no other rule routes.",
        },
    )
    child, _ = Queue.objects.get_or_create(
        slug="child-safety",
        defaults={
            "name": "Child safety",
            "priority": 1000,
            "sla_minutes": 60,
            "description": "Any child-safety signal, reviewed first.",
        },
    )
    urgent, _ = Queue.objects.get_or_create(
        slug="self-harm-violence",
        defaults={
            "name": "Self-harm and violence",
            "priority": 100,
            "sla_minutes": 4 * 60,
            "description": "High-level self-harm, violence and dangerous content.",
        },
    )
    Queue.objects.get_or_create(
        slug="escalations",
        defaults={
            "name": "Escalations",
            "kind": "escalation",
            "priority": 500,
            "sla_minutes": 8 * 60,
            "description": "Cases reviewers escalated; seniors only.",
        },
    )
    Queue.objects.get_or_create(
        slug="appeals",
        defaults={
            "name": "Appeals",
            "kind": "appeal",
            "priority": 400,
            "sla_minutes": 72 * 60,
            "description": "Users' appeals of actions; decided by a senior who did not approve the action.",
        },
    )
    Queue.objects.get_or_create(
        slug="calibration",
        defaults={
            "name": "Calibration",
            "kind": "calibration",
            "priority": -100,
            "sla_minutes": 7 * 24 * 60,
            "description": "A random sample of flags below threshold, to measure precision.",
        },
    )
    RoutingRule.objects.get_or_create(
        name="Child safety first", defaults={"position": 10, "queue": child, "categories": ["child_safety"]}
    )
    RoutingRule.objects.get_or_create(
        name="Urgent harm",
        defaults={
            "position": 20,
            "queue": urgent,
            "categories": ["self_harm", "violence", "dangerous"],
            "min_level": 3,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("review", "0001_initial"), ("accounts", "0002_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
