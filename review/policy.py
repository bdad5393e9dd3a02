"""The policy a flag is judged by, loaded once per request or batch.

A `Policy` is a plain snapshot of the database's tables (label maps, cut
points, thresholds, routing rules), so judging hundreds of flags costs a
handful of queries and no query per flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery

from review.adapters import RawSignal
from review.adapters.normalise import NormalisedSignal, normalise
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

# A category that is not adjustable (child safety always) is reviewed from low
# up, whatever the profile says. A negligible score is not "a signal" —
# sources such as OpenAI score every category on every call, and a 0.0001 is
# the classifier saying "no".
CHILD_SAFETY_THRESHOLD = FIXED_THRESHOLD = Threshold.LOW


@dataclass(frozen=True, slots=True)
class JudgedSignal:
    label: str
    category: str
    score: float | None
    level: Level
    severity: int | None
    threshold: Threshold
    met: bool


@dataclass(frozen=True, slots=True)
class Route:
    queue_id: int
    queue_slug: str
    rule: str | None  # the routing rule's name; None for the default queue


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    queue_id: int
    queue_slug: str
    categories: frozenset[str]
    min_level: int
    sources: frozenset[str]
    languages: frozenset[str]
    profile_ids: frozenset[int]
    integration_ids: frozenset[int]

    def matches(
        self, *, category: str, level: int, source: str, language: str, profile_id: int, integration_id: int
    ) -> bool:
        return (
            (not self.categories or category in self.categories)
            and level >= self.min_level
            and (not self.sources or source in self.sources)
            and (not self.languages or language.split("-")[0].lower() in self.languages)
            and (not self.profile_ids or profile_id in self.profile_ids)
            and (not self.integration_ids or integration_id in self.integration_ids)
        )


@dataclass(frozen=True)
class Policy:
    integration_id: int
    profile_id: int
    thresholds: dict[str, Threshold]
    weights: dict[str, int]
    label_maps: dict[str, dict[str, str]]
    sources: dict[str, SourceSettings]
    rules: list[_Rule]
    default_route: Route
    known_categories: frozenset[str] = field(default_factory=frozenset)
    fixed_categories: frozenset[str] = field(default_factory=frozenset)  # not adjustable
    # The versions this policy was read from, recorded on each flag and case it judges.
    profile_version_id: int | None = None
    mapping_version_ids: dict[str, int] = field(default_factory=dict)
    routing_version_id: int | None = None
    # The profile's share of below-threshold flags to sample, in percent, and
    # where samples go; no calibration queue means no sampling.
    calibration_rate: float = 0.0
    calibration_route: Route | None = None

    def judge(self, source: str, raw: list[RawSignal]) -> list[JudgedSignal]:
        settings = self.sources.get(source)
        normalised = normalise(
            source,
            raw,
            label_map=self.label_maps.get(source, {}),
            cut_points=settings.cut_points if settings else None,
            severity_levels={int(k): v for k, v in settings.severity_levels.items()}
            if settings and settings.severity_levels
            else None,
            unsafe_level=settings.unsafe_level if settings else "high",
        )
        return [self._judge_one(signal) for signal in normalised]

    def _judge_one(self, signal: NormalisedSignal) -> JudgedSignal:
        category = signal.category if signal.category in self.known_categories else "other"
        threshold = (
            FIXED_THRESHOLD
            if category == CHILD_SAFETY or category in self.fixed_categories
            else self.thresholds.get(category, Threshold.MEDIUM)
        )
        level = Level.from_name(signal.level.value)
        min_level = threshold.min_level
        return JudgedSignal(
            label=signal.label,
            category=category,
            score=signal.score,
            level=level,
            severity=signal.severity,
            threshold=threshold,
            met=min_level is not None and level >= min_level,
        )

    def priority(self, signal: JudgedSignal, *, recent_violations: int) -> int:
        """Higher first: the category's weight, then the level, then the account's record."""
        return self.weights.get(signal.category, 100) + 10 * int(signal.level) + min(recent_violations, 50)

    def route(self, signal: JudgedSignal, *, source: str, language: str) -> Route:
        for rule in self.rules:
            if rule.matches(
                category=signal.category,
                level=int(signal.level),
                source=source,
                language=language,
                profile_id=self.profile_id,
                integration_id=self.integration_id,
            ):
                return Route(rule.queue_id, rule.queue_slug, rule.name)
        return self.default_route


def lead_signal(signals: list[JudgedSignal], weights: dict[str, int]) -> JudgedSignal | None:
    """The met signal that decides a case's queue and priority."""
    met = [s for s in signals if s.met]
    return max(met, key=lambda s: (weights.get(s.category, 100), int(s.level), s.score or 0.0)) if met else None


_cached: dict[int, tuple[int, Policy]] = {}


def policy_for(integration: Integration) -> Policy:
    """The integration's policy, from this process's memory while the policy version is unchanged.

    One primary-key read per call; any change to a policy table (through
    the console, a command, a migration or by hand) bumps the version in the
    same transaction, through database triggers.
    """
    version = _state()
    hit = _cached.get(integration.pk)
    if version is not None and hit is not None and hit[0] == version:
        return hit[1]
    version, policy = _load_consistently(integration)
    if version is not None:
        if len(_cached) > 1000:
            _cached.clear()
        _cached[integration.pk] = (version, policy)
    return policy


def _state() -> int | None:
    return PolicyState.objects.filter(pk=1).values_list("version", flat=True).first()


def _load_consistently(integration: Integration) -> tuple[int | None, Policy]:
    """The policy and the state token it matches, read from one snapshot of the database.

    load_policy reads a dozen tables; a change committed between two of those
    reads would otherwise give a policy that never existed (new thresholds
    with the previous version's id, say) and keep it under a token that
    still looks current. On PostgreSQL a REPEATABLE READ transaction makes all
    the reads see one moment; SQLite's transaction does so on its own. Inside
    a caller's transaction the isolation level can no longer be set, so the
    reads share whatever that transaction sees.
    """
    if connection.in_atomic_block:
        return _state(), load_policy(integration)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _state(), load_policy(integration)


def load_policy(integration: Integration) -> Policy:
    categories = list(Category.objects.values_list("slug", "weight", "adjustable"))
    thresholds = {
        category_id: Threshold(value)
        for category_id, value in ProfileThreshold.objects.filter(profile_id=integration.profile_id).values_list(
            "category_id", "threshold"
        )
    }
    label_maps: dict[str, dict[str, str]] = {}
    for source, label, category_id in LabelMapping.objects.values_list("source", "label", "category_id"):
        label_maps.setdefault(source, {})[label] = category_id
    rules = [
        _Rule(
            name=rule.name,
            queue_id=rule.queue_id,
            queue_slug=rule.queue.slug,
            categories=frozenset(rule.categories),
            min_level=rule.min_level,
            sources=frozenset(rule.sources),
            languages=frozenset(lang.lower() for lang in rule.languages),
            profile_ids=frozenset(p.pk for p in rule.profiles.all()),
            integration_ids=frozenset(i.pk for i in rule.integrations.all()),
        )
        for rule in RoutingRule.objects.filter(is_active=True)
        .select_related("queue")
        .prefetch_related("profiles", "integrations")
    ]
    default = None
    calibration = None
    for pk, slug, is_default, kind in (
        Queue.objects.filter(Q(is_default=True) | Q(kind=Queue.Kind.CALIBRATION))
        .order_by("pk")
        .values_list("pk", "slug", "is_default", "kind")
    ):
        if is_default and default is None:
            default = (pk, slug)
        if kind == Queue.Kind.CALIBRATION and calibration is None:
            calibration = Route(pk, slug, None)
    if default is None:
        raise Queue.DoesNotExist("No default queue: a policy admin must mark one queue as the default.")
    latest_mapping = MappingVersion.objects.filter(source=OuterRef("source")).order_by("-version").values("pk")[:1]
    rate = PolicyProfile.objects.filter(pk=integration.profile_id).values_list("calibration_rate", flat=True).first()
    return Policy(
        integration_id=integration.pk,
        profile_id=integration.profile_id,
        thresholds=thresholds,
        weights={slug: weight for slug, weight, _ in categories},
        label_maps=label_maps,
        sources={s.source: s for s in SourceSettings.objects.all()},
        rules=rules,
        default_route=Route(default[0], default[1], None),
        known_categories=frozenset(slug for slug, _, _ in categories),
        fixed_categories=frozenset(slug for slug, _, adjustable in categories if not adjustable),
        profile_version_id=ProfileVersion.objects.filter(profile_id=integration.profile_id)
        .order_by("-version")
        .values_list("pk", flat=True)
        .first(),
        mapping_version_ids=dict(
            MappingVersion.objects.filter(pk=Subquery(latest_mapping)).values_list("source", "pk")
        ),
        routing_version_id=RoutingVersion.objects.order_by("-version").values_list("pk", flat=True).first(),
        calibration_rate=float(rate or 0),
        calibration_route=calibration,
    )
