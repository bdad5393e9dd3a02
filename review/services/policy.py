"""Policy admins' versioned changes: profiles, a source's mappings and cut points, the routing rules.

Every change here saves the whole document as a new version (author, time,
required reason; see console/versioning.py) and writes its audit entry, in
one transaction. Changes to policy documents are serialised on the policy
state row, which the policy triggers update anyway, so two admins saving at
once get consecutive versions, and `based_on` (the version the admin's form
was opened at) refuses a change made on top of a version someone replaced
meanwhile.

Validation that keeps ingestion working (cut points that are numbers in
order, known categories and levels) is done here as well as in the forms:
a bad table would otherwise make every flag from that source fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from console.audit import record
from console.models import AuditVerb
from console.versioning import add_version, require_reason, restored_reason
from review.adapters import ADAPTERS
from review.models import (
    CHILD_SAFETY,
    Category,
    Integration,
    LabelMapping,
    Level,
    MappingVersion,
    PolicyProfile,
    PolicyState,
    ProfileThreshold,
    ProfileVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    SourceSettings,
    Threshold,
)
from review.versions import (
    CUT_LEVELS,
    mapping_snapshot,
    profile_snapshot,
    routing_snapshot,
)

LEVEL_NAMES = ("negligible", "low", "medium", "high")
UNSAFE_LEVELS = ("low", "medium", "high")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
NOTHING_CHANGED = "Nothing changed: a new version needs a change."


class StaleVersion(ValueError):
    """The change was made on a version that is no longer the current one."""


def _lock_policy() -> None:
    # Serialises versioned policy changes (on SQLite the write lock does it).
    PolicyState.objects.get_or_create(pk=1)
    PolicyState.objects.select_for_update().filter(pk=1).first()


def _check_based_on(based_on: int | None, current: int | None, what: str) -> None:
    if based_on is not None and current is not None and based_on != current:
        raise StaleVersion(
            f"Someone saved version {current} of {what} after you opened it. "
            "Reload the page and make your change again."
        )


def _latest(versions: Any) -> int | None:
    return versions.order_by("-version").values_list("version", flat=True).first()


def fixed_categories() -> set[str]:
    """Categories whose threshold no profile may change: reviewed from low up."""
    return set(Category.objects.filter(adjustable=False).values_list("slug", flat=True)) | {CHILD_SAFETY}


# --- Profiles -------------------------------------------------------------------------------------


def _check_thresholds(thresholds: Mapping[str, str], *, stored: Mapping[str, str]) -> dict[str, Threshold]:
    known = dict(Category.objects.values_list("slug", "name"))
    fixed = fixed_categories()
    checked: dict[str, Threshold] = {}
    for slug, value in thresholds.items():
        if slug not in known:
            raise ValueError(f"There is no category “{slug}”.")
        try:
            threshold = Threshold(value)
        except ValueError:
            raise ValueError(f"“{value}” is not a threshold: use off, high, medium or low.") from None
        if slug in fixed and threshold != stored.get(slug) and threshold != Threshold.LOW:
            raise ValueError(
                f"{known[slug]} is not adjustable: every signal at low or above is reviewed, whatever the profile."
            )
        checked[slug] = threshold
    return checked


def _name_free(name: str, profile: PolicyProfile | None) -> str:
    name = name.strip()
    if not name:
        raise ValueError("A profile needs a name.")
    others = PolicyProfile.objects.filter(name__iexact=name)
    if profile is not None:
        others = others.exclude(pk=profile.pk)
    if others.exists():
        raise ValueError(f"Another profile is already called “{name}”.")
    return name


@transaction.atomic
def create_profile(
    *, actor: Any, name: str, description: str, thresholds: Mapping[str, str], reason: str
) -> ProfileVersion:
    """A new profile as version 1. Categories not given start at medium; those not adjustable at low."""
    reason = require_reason(reason, what="A new profile")
    _lock_policy()
    name = _name_free(name, None)
    checked = _check_thresholds(thresholds, stored={})
    fixed = fixed_categories()
    profile = PolicyProfile.objects.create(name=name, description=description.strip())
    ProfileThreshold.objects.bulk_create(
        ProfileThreshold(
            profile=profile,
            category_id=slug,
            threshold=Threshold.LOW if slug in fixed else checked.get(slug, Threshold.MEDIUM),
        )
        for slug in Category.objects.values_list("slug", flat=True)
    )
    after = profile_snapshot(profile)
    version = add_version(ProfileVersion, owner={"profile": profile}, snapshot=after, actor=actor, reason=reason)
    record(actor=actor, verb=AuditVerb.PROFILE_CREATED, target=profile, after={**after, "version": 1},
           reason=reason)
    return version  # type: ignore[return-value]


@transaction.atomic
def change_profile(
    *,
    actor: Any,
    profile: PolicyProfile,
    name: str,
    description: str,
    thresholds: Mapping[str, str],
    reason: str,
    based_on: int | None = None,
    restored_from: int | None = None,
) -> ProfileVersion:
    """Save a profile's name, description and thresholds (those given) as its next version."""
    reason = require_reason(reason, what="A profile change")
    _lock_policy()
    locked = PolicyProfile.objects.select_for_update().get(pk=profile.pk)
    _check_based_on(based_on, _latest(locked.versions), f"the profile “{locked.name}”")
    before = profile_snapshot(locked)
    checked = _check_thresholds(thresholds, stored=before["thresholds"])
    locked.name, locked.description = _name_free(name, locked), description.strip()
    locked.save(update_fields=["name", "description"])
    stored = {t.category_id: t for t in ProfileThreshold.objects.filter(profile=locked)}
    changed = []
    for slug, threshold in checked.items():
        row = stored.get(slug)
        if row is None:
            ProfileThreshold.objects.create(profile=locked, category_id=slug, threshold=threshold)
        elif row.threshold != threshold:
            row.threshold = threshold
            changed.append(row)
    ProfileThreshold.objects.bulk_update(changed, ["threshold"])
    after = profile_snapshot(locked)
    if after == before:
        raise ValueError(NOTHING_CHANGED)
    version = add_version(
        ProfileVersion, owner={"profile": locked}, snapshot=after, actor=actor, reason=reason,
        restored_from=restored_from,
    )
    record(
        actor=actor,
        verb=AuditVerb.PROFILE_CHANGED,
        target=locked,
        before=before,
        after={**after, "version": version.version, "restored_from": restored_from},
        reason=reason,
    )
    return version  # type: ignore[return-value]


def restore_profile(*, actor: Any, profile: PolicyProfile, version: int, reason: str) -> ProfileVersion:
    """Save an earlier version's profile again, as a new version. Categories not adjustable keep theirs."""
    reason = require_reason(reason, what="Restoring a version")
    old = ProfileVersion.objects.get(profile=profile, version=version).snapshot
    fixed = fixed_categories()
    known = set(Category.objects.values_list("slug", flat=True))
    return change_profile(
        actor=actor,
        profile=profile,
        name=old["name"],
        description=old.get("description", ""),
        thresholds={s: v for s, v in old.get("thresholds", {}).items() if s in known and s not in fixed},
        reason=restored_reason(version, reason),
        restored_from=version,
    )


@transaction.atomic
def assign_profile(*, actor: Any, integration: Integration, profile: PolicyProfile, reason: str) -> Integration:
    """Judge an integration's flags by another profile from now on (audited as an integration change)."""
    from review.services.integrations import update_integration

    reason = require_reason(reason, what="Changing an integration's profile")
    if integration.profile_id == profile.pk:
        raise ValueError(f"{integration.name} is already judged by {profile.name}.")
    return update_integration(
        actor=actor, integration=integration, profile=profile, is_active=integration.is_active, reason=reason
    )


# --- A source's mappings and cut points -----------------------------------------------------------


def _check_mapping(
    labels: Mapping[str, str],
    cut_points: Mapping[str, float] | None,
    severity_levels: Mapping[str, str] | None,
    unsafe_level: str,
) -> None:
    known = set(Category.objects.values_list("slug", flat=True))
    folded: dict[str, str] = {}
    for label, category in labels.items():
        if not label.strip() or len(label) > 200:
            raise ValueError("A label is 1 to 200 characters.")
        if category not in known:
            raise ValueError(f"Label “{label}”: there is no category “{category}”.")
        if label.casefold() in folded:
            raise ValueError(f"“{label}” and “{folded[label.casefold()]}” differ only in case; labels are matched "
                             "ignoring case, so keep one.")
        folded[label.casefold()] = label
    if cut_points is not None:
        values = [cut_points.get(level) for level in CUT_LEVELS]
        if any(isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1 for v in values):
            raise ValueError("Cut points are numbers from 0 to 1, one each for low, medium and high.")
        if not values[0] < values[1] < values[2]:  # type: ignore[operator]
            raise ValueError("Cut points must rise: low below medium below high.")
    for severity, level in (severity_levels or {}).items():
        if not str(severity).isdigit() or level not in LEVEL_NAMES:
            raise ValueError(f"Severity {severity}: the level must be one of {', '.join(LEVEL_NAMES)}.")
    if unsafe_level not in UNSAFE_LEVELS:
        raise ValueError("The level of a bare “unsafe” is low, medium or high.")


@transaction.atomic
def change_mapping(
    *,
    actor: Any,
    source: str,
    labels: Mapping[str, str],
    cut_points: Mapping[str, float] | None,
    severity_levels: Mapping[str, str] | None,
    unsafe_level: str,
    reason: str,
    based_on: int | None = None,
    restored_from: int | None = None,
) -> MappingVersion:
    """Replace a source's label table and level settings; the whole set is its next version."""
    reason = require_reason(reason, what="A mapping change")
    if source not in ADAPTERS:
        raise ValueError(f"There is no source “{source}”.")
    _check_mapping(labels, cut_points, severity_levels, unsafe_level)
    _lock_policy()
    settings, _ = SourceSettings.objects.select_for_update().get_or_create(source=source)
    _check_based_on(based_on, _latest(MappingVersion.objects.filter(source=source)), f"the {source} mappings")
    before = mapping_snapshot(source)
    existing = {m.label: m for m in LabelMapping.objects.filter(source=source)}
    gone = [m.pk for label, m in existing.items() if label not in labels]
    if gone:
        LabelMapping.objects.filter(pk__in=gone).delete()
    moved = []
    for label, category in labels.items():
        row = existing.get(label)
        if row is not None and row.category_id != category:
            row.category_id = category
            moved.append(row)
    LabelMapping.objects.bulk_update(moved, ["category"])
    LabelMapping.objects.bulk_create(
        LabelMapping(source=source, label=label, category_id=category)
        for label, category in labels.items()
        if label not in existing
    )
    settings.cut_points = {level: float(cut_points[level]) for level in CUT_LEVELS} if cut_points else None
    settings.severity_levels = {str(k): v for k, v in severity_levels.items()} if severity_levels else None
    settings.unsafe_level = unsafe_level
    settings.save(update_fields=["cut_points", "severity_levels", "unsafe_level"])
    after = mapping_snapshot(source)
    if after == before:
        raise ValueError(NOTHING_CHANGED)
    version = add_version(
        MappingVersion, owner={"source": source}, snapshot=after, actor=actor, reason=reason,
        restored_from=restored_from,
    )
    record(
        actor=actor,
        verb=AuditVerb.MAPPING_CHANGED,
        target=settings,
        before=before,
        after={**after, "version": version.version, "restored_from": restored_from},
        reason=reason,
    )
    return version  # type: ignore[return-value]


def restore_mapping(*, actor: Any, source: str, version: int, reason: str) -> MappingVersion:
    reason = require_reason(reason, what="Restoring a version")
    old = MappingVersion.objects.get(source=source, version=version).snapshot
    return change_mapping(
        actor=actor,
        source=source,
        labels=old.get("labels", {}),
        cut_points=old.get("cut_points"),
        severity_levels=old.get("severity_levels"),
        unsafe_level=old.get("unsafe_level", "high"),
        reason=restored_reason(version, reason),
        restored_from=version,
    )


# --- Routing rules --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleData:
    """A routing rule as the form gives it. Empty lists match anything."""

    name: str
    queue: Queue
    categories: list[str] = field(default_factory=list)
    min_level: int = Level.NEGLIGIBLE
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    profiles: list[PolicyProfile] = field(default_factory=list)
    integrations: list[Integration] = field(default_factory=list)
    is_active: bool = True


def _check_rule(data: RuleData, rule: RoutingRule | None) -> None:
    if not data.name.strip():
        raise ValueError("A routing rule needs a name.")
    others = RoutingRule.objects.filter(name__iexact=data.name.strip())
    if rule is not None:
        others = others.exclude(pk=rule.pk)
    if others.exists():
        raise ValueError(f"Another routing rule is already called “{data.name.strip()}”.")
    if data.queue.kind != Queue.Kind.REVIEW:
        raise ValueError(f"{data.queue.name} fills itself ({data.queue.get_kind_display()}): route to a review queue.")
    unknown = set(data.categories) - set(Category.objects.values_list("slug", flat=True))
    if unknown:
        raise ValueError(f"There is no category “{sorted(unknown)[0]}”.")
    if set(data.sources) - set(ADAPTERS):
        raise ValueError(f"There is no source “{sorted(set(data.sources) - set(ADAPTERS))[0]}”.")
    bad = [lang for lang in data.languages if not LANGUAGE.match(lang)]
    if bad:
        raise ValueError(f"“{bad[0]}” is not a language code: use two or three lowercase letters, e.g. en, de, fil.")
    if data.min_level not in Level.values:
        raise ValueError("The level is negligible, low, medium or high.")


def _routing_version() -> int | None:
    return _latest(RoutingVersion.objects.all())


@transaction.atomic
def save_routing_rule(
    *, actor: Any, rule: RoutingRule | None, data: RuleData, reason: str, based_on: int | None = None
) -> RoutingVersion:
    """Create a routing rule (it goes last) or change one; the rule set is saved as its next version."""
    reason = require_reason(reason, what="A routing change")
    _lock_policy()
    _check_based_on(based_on, _routing_version(), "the routing rules")
    _check_rule(data, rule)
    before = routing_snapshot()
    if rule is None:
        last = RoutingRule.objects.order_by("-position").values_list("position", flat=True).first() or 0
        rule = RoutingRule(position=last + 10)
    else:
        rule = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    rule.name, rule.queue = data.name.strip(), data.queue
    rule.categories, rule.min_level = list(data.categories), int(data.min_level)
    rule.sources, rule.languages, rule.is_active = list(data.sources), list(data.languages), data.is_active
    rule.save()
    rule.profiles.set(data.profiles)
    rule.integrations.set(data.integrations)
    return _commit_routing(actor=actor, before=before, reason=reason)


@transaction.atomic
def reorder_routing(*, actor: Any, order: Sequence[int], reason: str, based_on: int | None = None
                    ) -> RoutingVersion:
    """Put the rules in this order (rule ids, first tried first)."""
    reason = require_reason(reason, what="A routing change")
    _lock_policy()
    _check_based_on(based_on, _routing_version(), "the routing rules")
    rules = {r.pk: r for r in RoutingRule.objects.select_for_update()}
    if sorted(order) != sorted(rules):
        raise StaleVersion("The routing rules changed since you opened the page. Reload it and order them again.")
    before = routing_snapshot()
    _set_positions([rules[pk] for pk in order])
    return _commit_routing(actor=actor, before=before, reason=reason)


@transaction.atomic
def restore_routing(*, actor: Any, version: int, reason: str) -> RoutingVersion:
    """The rule set as it was in `version`, saved as a new version.

    Rules of that version come back with their ids (a rule deleted since is
    re-created under its old id); rules added since are deleted.
    """
    reason = require_reason(reason, what="Restoring a version")
    _lock_policy()
    old = RoutingVersion.objects.get(version=version).snapshot
    queues = {q.slug: q for q in Queue.objects.all()}
    missing = [r["queue"] for r in old.get("rules", []) if r["queue"] not in queues]
    if missing:
        raise ValueError(f"Version {version} routes to the queue “{missing[0]}”, which no longer exists.")
    profiles = set(PolicyProfile.objects.values_list("pk", flat=True))
    integrations = set(Integration.objects.values_list("pk", flat=True))
    before = routing_snapshot()
    keep = [r["id"] for r in old.get("rules", [])]
    RoutingRule.objects.exclude(pk__in=keep).delete()
    existing = {r.pk: r for r in RoutingRule.objects.select_for_update()}
    for n, data in enumerate(old.get("rules", []), 1):
        rule = existing.get(data["id"]) or RoutingRule(pk=data["id"])
        rule.position = n * 10
        rule.name, rule.queue = data["name"], queues[data["queue"]]
        rule.categories, rule.min_level = list(data["categories"]), int(data["min_level"])
        rule.sources, rule.languages = list(data["sources"]), list(data["languages"])
        rule.is_active = bool(data["is_active"])
        rule.save()
        rule.profiles.set([p for p in data["profiles"] if p in profiles])
        rule.integrations.set([i for i in data["integrations"] if i in integrations])
    return _commit_routing(
        actor=actor, before=before, reason=restored_reason(version, reason), restored_from=version
    )


def _set_positions(rules: Iterable[RoutingRule]) -> None:
    changed = []
    for n, rule in enumerate(rules, 1):
        if rule.position != n * 10:
            rule.position = n * 10
            changed.append(rule)
    RoutingRule.objects.bulk_update(changed, ["position"])


def _commit_routing(*, actor: Any, before: dict[str, Any], reason: str, restored_from: int | None = None
                    ) -> RoutingVersion:
    # Positions 10, 20, 30…: the snapshot holds the order, and the table matches it exactly.
    _set_positions(RoutingRule.objects.order_by("position", "pk"))
    after = routing_snapshot()
    if after == before:
        raise ValueError(NOTHING_CHANGED)
    version = add_version(
        RoutingVersion, owner={}, snapshot=after, actor=actor, reason=reason, restored_from=restored_from
    )
    record(
        actor=actor,
        verb=AuditVerb.ROUTING_CHANGED,
        target=version,
        before=before,
        after={**after, "version": version.version, "restored_from": restored_from},
        reason=reason,
    )
    return version  # type: ignore[return-value]
