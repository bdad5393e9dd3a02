"""The versioned policy documents of the review app: what a snapshot holds and how it reads.

Three documents (console/versioning.py does the numbering, diffs and history):

- a **profile**: its name, description and a threshold per category;
- a source's **mappings**: every label → category, with the source's cut
  points, severity table and "unsafe" level, since together they decide
  which category and level a signal gets;
- the **routing**: every routing rule, in order, since the first match wins
  and a rule means nothing without its place.

Snapshots are plain JSON built by the `shape_*` functions, so the migration
that records the first versions builds them exactly as the services do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from console.versioning import Document, Entry
from review.models import (
    Category,
    Integration,
    LabelMapping,
    Level,
    MappingVersion,
    PolicyProfile,
    ProfileThreshold,
    ProfileVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    SourceSettings,
    Threshold,
)

CUT_LEVELS = ("low", "medium", "high")
FIRST_REASON = "The policy as it stood when versions began."


# --- Snapshot shapes ------------------------------------------------------------------------------


def shape_profile(name: str, description: str, thresholds: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"name": name, "description": description, "thresholds": dict(sorted(thresholds))}


def shape_mapping(
    labels: Iterable[tuple[str, str]],
    cut_points: Mapping[str, float] | None,
    severity_levels: Mapping[str, str] | None,
    unsafe_level: str,
) -> dict[str, Any]:
    return {
        "labels": dict(sorted(labels, key=lambda pair: (pair[0].casefold(), pair[0]))),
        "cut_points": {k: cut_points[k] for k in CUT_LEVELS if k in cut_points} if cut_points else None,
        "severity_levels": {str(k): v for k, v in sorted(severity_levels.items(), key=lambda kv: int(kv[0]))}
        if severity_levels
        else None,
        "unsafe_level": unsafe_level,
    }


def shape_rule(rule: Any, *, queue_slug: str, profile_ids: Iterable[int], integration_ids: Iterable[int]
               ) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "queue": queue_slug,
        "categories": list(rule.categories),
        "min_level": int(rule.min_level),
        "sources": list(rule.sources),
        "languages": list(rule.languages),
        "profiles": sorted(profile_ids),
        "integrations": sorted(integration_ids),
        "is_active": bool(rule.is_active),
    }


def profile_snapshot(profile: PolicyProfile) -> dict[str, Any]:
    thresholds = ProfileThreshold.objects.filter(profile=profile).values_list("category_id", "threshold")
    return shape_profile(profile.name, profile.description, thresholds)


def mapping_snapshot(source: str) -> dict[str, Any]:
    labels = LabelMapping.objects.filter(source=source).values_list("label", "category_id")
    settings = SourceSettings.objects.filter(source=source).first()
    if settings is None:
        return shape_mapping(labels, None, None, "high")
    return shape_mapping(labels, settings.cut_points, settings.severity_levels, settings.unsafe_level)


def routing_snapshot() -> dict[str, Any]:
    rules = RoutingRule.objects.select_related("queue").prefetch_related("profiles", "integrations")
    return {
        "rules": [
            shape_rule(
                rule,
                queue_slug=rule.queue.slug,
                profile_ids=[p.pk for p in rule.profiles.all()],
                integration_ids=[i.pk for i in rule.integrations.all()],
            )
            for rule in rules.order_by("position", "pk")
        ]
    }


def seed_versions(apps: Any) -> None:
    """Record version 1 of every document that has none yet (the migration, and tests after a flush)."""
    models = {name: apps.get_model("review", name) for name in (
        "PolicyProfile", "ProfileThreshold", "ProfileVersion", "LabelMapping", "SourceSettings", "MappingVersion",
        "RoutingRule", "RoutingVersion",
    )}
    from review.adapters import ADAPTERS

    now = _now()
    for profile in models["PolicyProfile"].objects.exclude(versions__isnull=False):
        pairs = models["ProfileThreshold"].objects.filter(profile=profile).values_list("category_id", "threshold")
        models["ProfileVersion"].objects.create(
            profile=profile, version=1, snapshot=shape_profile(profile.name, profile.description, pairs),
            reason=FIRST_REASON, created_at=now,
        )
    versioned = set(models["MappingVersion"].objects.values_list("source", flat=True))
    for source in ADAPTERS:
        if source in versioned:
            continue
        labels = models["LabelMapping"].objects.filter(source=source).values_list("label", "category_id")
        settings = models["SourceSettings"].objects.filter(source=source).first()
        snapshot = (
            shape_mapping(labels, settings.cut_points, settings.severity_levels, settings.unsafe_level)
            if settings
            else shape_mapping(labels, None, None, "high")
        )
        models["MappingVersion"].objects.create(
            source=source, version=1, snapshot=snapshot, reason=FIRST_REASON, created_at=now
        )
    if not models["RoutingVersion"].objects.exists():
        rules = models["RoutingRule"].objects.select_related("queue").order_by("position", "pk")
        snapshot = {
            "rules": [
                shape_rule(
                    rule,
                    queue_slug=rule.queue.slug,
                    profile_ids=rule.profiles.values_list("pk", flat=True),
                    integration_ids=rule.integrations.values_list("pk", flat=True),
                )
                for rule in rules
            ]
        }
        models["RoutingVersion"].objects.create(version=1, snapshot=snapshot, reason=FIRST_REASON, created_at=now)


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def latest(versions: Any) -> Any:
    return versions.order_by("-version").first()


def current_profile_version(profile: PolicyProfile) -> ProfileVersion | None:
    return latest(ProfileVersion.objects.filter(profile=profile))


def current_mapping_version(source: str) -> MappingVersion | None:
    return latest(MappingVersion.objects.filter(source=source))


def current_routing_version() -> RoutingVersion | None:
    return latest(RoutingVersion.objects.all())


# --- How they read --------------------------------------------------------------------------------


def threshold_label(value: str) -> str:
    try:
        return str(Threshold(value).label)
    except ValueError:
        return value


def level_label(value: int) -> str:
    try:
        return str(Level(value).label)
    except ValueError:
        return str(value)


class ProfileDocument(Document):
    """Name, description, then one line per category, in the taxonomy's order."""

    def __init__(self, categories: Iterable[tuple[str, str]] | None = None) -> None:
        pairs = list(categories) if categories is not None else list(Category.objects.values_list("slug", "name"))
        self.names = dict(pairs)
        self.order = {slug: n for n, (slug, _) in enumerate(pairs)}

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        thresholds: Mapping[str, str] = snapshot.get("thresholds", {})
        lines = [
            Entry("name", "Name", snapshot.get("name", ""), snapshot.get("name", "")),
            Entry("description", "Description", snapshot.get("description", ""),
                  snapshot.get("description", "") or "—"),
        ]
        for slug in sorted(thresholds, key=lambda s: (self.order.get(s, len(self.order)), s)):
            lines.append(
                Entry(f"threshold:{slug}", self.names.get(slug, slug), thresholds[slug],
                      threshold_label(thresholds[slug]))
            )
        return lines

    def summary(self, snapshot: Mapping[str, Any]) -> str:
        """e.g. "Hate, Harassment: low and above · Violence: high only · every other category: medium and above"."""
        thresholds: Mapping[str, str] = snapshot.get("thresholds", {})
        if not thresholds:
            return "No thresholds: every category at medium and above."
        common, _ = Counter(thresholds.values()).most_common(1)[0]
        parts = []
        for value in (Threshold.LOW, Threshold.MEDIUM, Threshold.HIGH, Threshold.OFF):
            if value == common:
                continue
            slugs = sorted((s for s, v in thresholds.items() if v == value), key=lambda s: self.order.get(s, 99))
            if slugs:
                names = ", ".join(self.names.get(s, s) for s in slugs)
                parts.append(f"{names}: {_short(value)}")
        parts.append(f"{'every other category' if parts else 'every category'}: {_short(common)}")
        return " · ".join(parts)


def _short(value: str) -> str:
    return {"off": "off", "high": "high only", "medium": "medium and above", "low": "low and above"}.get(value, value)


class MappingDocument(Document):
    """A source's labels (alphabetical), then its cut points, severity table and unsafe level."""

    absent = "not mapped"

    def __init__(self, category_names: Mapping[str, str] | None = None) -> None:
        self.names = dict(category_names) if category_names is not None else dict(
            Category.objects.values_list("slug", "name")
        )

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        labels: Mapping[str, str] = snapshot.get("labels", {})
        lines = [
            Entry(f"label:{label}", f"Label “{label}”", category, self.names.get(category, category))
            for label, category in labels.items()
        ]
        cuts = snapshot.get("cut_points") or {}
        lines += [
            Entry(f"cut:{level}", f"Cut point for {level}", cuts.get(level), _number(cuts.get(level)))
            for level in CUT_LEVELS
        ]
        severities = snapshot.get("severity_levels") or {}
        lines += [Entry(f"severity:{k}", f"Severity {k}", v, v) for k, v in severities.items()]
        unsafe = snapshot.get("unsafe_level", "high")
        lines.append(Entry("unsafe_level", "Level of a bare “unsafe”", unsafe, unsafe))
        return lines

    def summary(self, snapshot: Mapping[str, Any]) -> str:
        labels: Mapping[str, str] = snapshot.get("labels", {})
        cuts = snapshot.get("cut_points")
        text = f"{len(labels)} label{'s' if len(labels) != 1 else ''} → {len(set(labels.values()))} categories"
        if cuts:
            text += " · cut points " + " / ".join(f"{level} {_number(cuts.get(level))}" for level in CUT_LEVELS)
        return text + f" · bare “unsafe”: {snapshot.get('unsafe_level', 'high')}"


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


class RoutingDocument(Document):
    """The order, then one line per rule saying what it matches and where it sends it."""

    absent = "no such rule"

    def __init__(self) -> None:
        self.queues = dict(Queue.objects.values_list("slug", "name"))
        self.categories = dict(Category.objects.values_list("slug", "name"))
        self.profiles = dict(PolicyProfile.objects.values_list("pk", "name"))
        self.integrations = dict(Integration.objects.values_list("pk", "name"))

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        rules = snapshot.get("rules", [])
        order = [rule["id"] for rule in rules]
        lines = [Entry("order", "Order", order, " · ".join(f"{n}. {r['name']}" for n, r in enumerate(rules, 1))
                       or "no rules")]
        lines += [
            Entry(f"rule:{rule['id']}", f"Rule {n}", rule, self.describe(rule)) for n, rule in enumerate(rules, 1)
        ]
        return lines

    def same(self, snapshot: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        # A rule that is there now but not in the version would be removed: that is a change too.
        return {e.key: e.value for e in self.entries(snapshot)} == {e.key: e.value for e in self.entries(current)}

    def summary(self, snapshot: Mapping[str, Any]) -> str:
        rules = snapshot.get("rules", [])
        active = sum(1 for rule in rules if rule.get("is_active"))
        return f"{len(rules)} rule{'s' if len(rules) != 1 else ''}, {active} active; a case no rule matches " \
               "goes to the default queue."

    def describe(self, rule: Mapping[str, Any]) -> str:
        """e.g. "Urgent harm: Self-harm, Violence at high, from openai → Self-harm and violence (inactive)"."""
        what = ", ".join(self.categories.get(c, c) for c in rule.get("categories", [])) or "any category"
        level = int(rule.get("min_level", 0))
        where = [f"{what} at {level_label(level)}{' and above' if level < Level.HIGH else ''}" if level
                 else f"{what} at any level"]
        if rule.get("sources"):
            where.append("from " + ", ".join(rule["sources"]))
        if rule.get("languages"):
            where.append("in " + ", ".join(rule["languages"]))
        if rule.get("profiles"):
            where.append("profile " + ", ".join(self.profiles.get(p, f"#{p}") for p in rule["profiles"]))
        if rule.get("integrations"):
            where.append("integration " + ", ".join(self.integrations.get(i, f"#{i}") for i in rule["integrations"]))
        queue = self.queues.get(rule.get("queue", ""), rule.get("queue", ""))
        inactive = "" if rule.get("is_active", True) else " (inactive)"
        return f"{rule.get('name', '')}: {', '.join(where)} → {queue}{inactive}"


__all__ = [
    "MappingDocument",
    "ProfileDocument",
    "RoutingDocument",
    "current_mapping_version",
    "current_profile_version",
    "current_routing_version",
    "mapping_snapshot",
    "profile_snapshot",
    "routing_snapshot",
    "seed_versions",
]
