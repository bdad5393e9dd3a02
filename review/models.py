from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.models import DocumentVersion
from review.adapters import ADAPTERS


class Level(models.IntegerChoices):
    """A signal's level; stored as a rank so that "medium and above" is `level >= 2`."""

    NEGLIGIBLE = 0, "negligible"
    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"

    @classmethod
    def from_name(cls, name: str) -> Level:
        return cls[name.upper()]


class Threshold(models.TextChoices):
    """PaLM's safety settings: block (here: review) at this level and above."""

    OFF = "off", "Off — never review (BLOCK_NONE)"
    HIGH = "high", "High only (BLOCK_ONLY_HIGH)"
    MEDIUM = "medium", "Medium and above (BLOCK_MEDIUM_AND_ABOVE)"
    LOW = "low", "Low and above (BLOCK_LOW_AND_ABOVE)"

    @property
    def min_level(self) -> Level | None:
        return None if self is Threshold.OFF else Level.from_name(self.value)


# Django's functional Enum API, which django-stubs does not declare for TextChoices; hence the ignore.
Source = models.TextChoices("Source", [(name, name) for name in ADAPTERS])  # type: ignore[call-overload]


class PolicyState(models.Model):
    """A token that database triggers replace with a random one on every change to a policy table.

    Random rather than a counter: a rolled-back change takes its bump with it,
    and a counter would then hand out the same number again for a different
    policy.

    Each process keeps the policies it loaded with the version it read; one
    primary-key read per request tells whether they are still current, so
    ingestion does not reload eight tables for every flag and never judges by
    a stale policy (migration 0003 installs the triggers).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"policy version {self.version}"


class Category(models.Model):
    """A harm category of the taxonomy (seeded; child_safety is not adjustable)."""

    slug = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    description = models.TextField()
    harm_dimensions = models.JSONField(default=list)
    sensitive = models.BooleanField(default=False, help_text="Blur its text on the case page until revealed.")
    adjustable = models.BooleanField(
        default=True,
        help_text="Whether profiles may change its threshold. Not adjustable: any signal at low or above is "
        "reviewed, whatever the profile says.",
    )
    position = models.PositiveSmallIntegerField(default=0)
    weight = models.PositiveSmallIntegerField(
        default=100, help_text="Case priority from this category; child safety is reviewed first."
    )

    class Meta:
        ordering = ["position", "slug"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


CHILD_SAFETY = "child_safety"


class LabelMapping(models.Model):
    """Which taxonomy category a source's native label means."""

    source = models.CharField(max_length=20, choices=Source.choices)
    label = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "label"], name="label_mapping_unique")]
        ordering = ["source", "label"]

    def __str__(self) -> str:
        return f"{self.source}:{self.label} → {self.category_id}"


class SourceSettings(models.Model):
    """How a source's scores and severities become levels."""

    source = models.CharField(max_length=20, choices=Source.choices, primary_key=True)
    cut_points = models.JSONField(null=True, blank=True, help_text='Lowest score per level: {"low", "medium", "high"}.')
    severity_levels = models.JSONField(null=True, blank=True, help_text="Severity → level, for Azure.")
    unsafe_level = models.CharField(max_length=10, default="high", help_text="Level of a bare 'unsafe' verdict.")

    def __str__(self) -> str:
        return self.source


class PolicyProfile(models.Model):
    """Per-category thresholds that decide which flags need a human."""

    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    calibration_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Percent of the flags below every threshold sent to the calibration queue; 0 turns sampling off.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(calibration_rate__gte=0) & Q(calibration_rate__lte=100), name="calibration_rate_percent"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProfileVersion(DocumentVersion):
    """A profile's name, description and thresholds as saved by one change (review/versions.py reads them)."""

    profile = models.ForeignKey(PolicyProfile, on_delete=models.PROTECT, related_name="versions")

    class Meta(DocumentVersion.Meta):
        constraints = [models.UniqueConstraint(fields=["profile", "version"], name="profile_version_unique")]

    def __str__(self) -> str:
        return f"{self.profile} v{self.version}"


class MappingVersion(DocumentVersion):
    """A source's label mappings and its cut points, severity table and unsafe level, as one document."""

    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta(DocumentVersion.Meta):
        constraints = [models.UniqueConstraint(fields=["source", "version"], name="mapping_version_unique")]

    def __str__(self) -> str:
        return f"{self.source} mappings v{self.version}"


class RoutingVersion(DocumentVersion):
    """The whole ordered set of routing rules: the order decides, so it is versioned as one document."""

    class Meta(DocumentVersion.Meta):
        constraints = [models.UniqueConstraint(fields=["version"], name="routing_version_unique")]

    def __str__(self) -> str:
        return f"routing v{self.version}"


class ProfileThreshold(models.Model):
    profile = models.ForeignKey(PolicyProfile, on_delete=models.CASCADE, related_name="thresholds")
    category = models.ForeignKey(Category, on_delete=models.PROTECT)
    threshold = models.CharField(max_length=6, choices=Threshold.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "category"], name="threshold_unique_per_category")]

    def __str__(self) -> str:
        return f"{self.profile}: {self.category_id} {self.threshold}"


RETENTION_DEFAULT_DAYS = 90
RETENTION_MAX_DAYS = 3650


class Integration(models.Model):
    """A platform or app that sends flags."""

    name = models.CharField(max_length=80, unique=True)
    profile = models.ForeignKey(PolicyProfile, on_delete=models.PROTECT, related_name="integrations")
    webhook_url = models.URLField(blank=True, help_text="Where action events are sent (HTTPS).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    retention_days = models.PositiveSmallIntegerField(
        default=RETENTION_DEFAULT_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(RETENTION_MAX_DAYS)],
        help_text="Days its flags' prompt and response text is kept once their case is settled.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__gte=1) & Q(retention_days__lte=RETENTION_MAX_DAYS),
                name="retention_days_range",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Scope(models.TextChoices):
    FLAGS_WRITE = "flags:write", "Send flags"
    FLAGS_READ = "flags:read", "Read its flags"
    USAGE_WRITE = "usage:write", "Report usage"
    STATUS_READ = "status:read", "Read account status"
    APPEALS_WRITE = "appeals:write", "Forward appeals"
    REPORTS_READ = "reports:read", "Read reports"


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True, integration__is_active=True)


class ApiKey(models.Model):
    """An integration's key: shown once, stored as SHA-256, scoped, revocable.

    Keys carry 256 bits of randomness, so a fast hash is enough: there is no
    dictionary to guess from.
    """

    PREFIX = "dk_"
    audit_actor_type = "api_key"

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rate_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests per minute this key may make; empty: the default (DOCKET_API_RATE_PER_MINUTE).",
    )

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.integration}/{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class Queue(models.Model):
    """Where cases wait for reviewers, ordered by priority then age."""

    class Kind(models.TextChoices):
        REVIEW = "review", "Review"
        ESCALATION = "escalation", "Escalation (seniors)"
        APPEAL = "appeal", "Appeals (seniors)"
        CALIBRATION = "calibration", "Calibration sample"

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=40, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.REVIEW)
    description = models.TextField(blank=True)
    priority = models.SmallIntegerField(default=0, help_text="Added to every case's priority in this queue.")
    sla_minutes = models.PositiveIntegerField(default=24 * 60)
    lease_minutes = models.PositiveSmallIntegerField(default=10)
    is_default = models.BooleanField(default=False, help_text="Takes cases no routing rule matched.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="review_queues")

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_queue")
        ]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Sends matching cases to a queue; rules are tried by position, first match wins.

    An empty list matches anything in that dimension.
    """

    position = models.PositiveIntegerField()
    name = models.CharField(max_length=80)
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="rules")
    categories = models.JSONField(default=list, blank=True)
    min_level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.NEGLIGIBLE)
    sources = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    profiles = models.ManyToManyField(PolicyProfile, blank=True)
    integrations = models.ManyToManyField(Integration, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} → {self.queue}"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    CLOSED = "closed", "Closed"


class CaseQuerySet(models.QuerySet["Case"]):
    def unresolved(self) -> CaseQuerySet:
        return self.exclude(status=CaseStatus.CLOSED)

    def in_queue(self, queue: Queue) -> CaseQuerySet:
        return self.filter(queue=queue)


class Case(models.Model):
    """The unit of review: flags with the same content from the same account."""

    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="cases")
    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="cases")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="cases")
    content_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    priority = models.IntegerField(default=0)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, help_text="Of the signal that queued it.")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    routing = models.JSONField(default=dict, help_text="Why it was queued: the threshold met, the rule that routed it.")
    # The policy versions that opened it. No index: nothing looks cases up by version.
    profile_version = models.ForeignKey(
        ProfileVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text="The profile version whose threshold its first flag met.",
    )
    routing_version = models.ForeignKey(
        RoutingVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text="The routing rules that chose its queue.",
    )
    flag_count = models.PositiveIntegerField(default=0)
    calibration = models.BooleanField(
        default=False, help_text="Opened for a random sample of flags below threshold, to measure precision."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        constraints = [
            # One unresolved case per content per account: a repeat joins it.
            models.UniqueConstraint(
                fields=["account", "content_hash"],
                condition=~Q(status="closed"),
                name="one_unresolved_case_per_content",
            )
        ]
        indexes = [
            # Claiming reads the first row of this index: open cases of a
            # queue, highest priority first, oldest first.
            models.Index(
                fields=["queue", "-priority", "created_at"], condition=Q(status="open"), name="case_claim_order"
            ),
            models.Index(fields=["lease_expires_at"], condition=Q(status="claimed"), name="case_lease"),
            models.Index(fields=["status", "queue"], name="case_status_queue"),
            models.Index(fields=["account", "-created_at"], name="case_account"),
            # The calibration numbers find the sample's cases touched in their period.
            models.Index(fields=["updated_at"], condition=Q(calibration=True), name="case_calibration"),
        ]

    def __str__(self) -> str:
        return f"case {self.pk}"

    def held_by(self, user: Any) -> bool:
        return self.status == CaseStatus.CLAIMED and self.claimed_by_id == user.pk


class Flag(models.Model):
    """One flagged API call as received: immutable evidence."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="flags")
    external_id = models.CharField(max_length=200, help_text="The integration's request id (idempotency key).")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="flags")
    source = models.CharField(max_length=20, choices=Source.choices)
    prompt = models.TextField(blank=True)
    response = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64)
    result = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=35, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    max_level = models.PositiveSmallIntegerField(choices=Level.choices)
    needs_review = models.BooleanField()
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="flags")
    # Which policy versions judged it. Written for every flag on the ingest hot path, so neither has an
    # index nor a database constraint (a per-row lookup and lock of the version row): versions are never
    # deleted, and the ids come from the policy that was just loaded from them.
    profile_version = models.ForeignKey(
        ProfileVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        db_constraint=False, help_text="The profile version whose thresholds decided needs_review.",
    )
    mapping_version = models.ForeignKey(
        MappingVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        db_constraint=False, help_text="The source's mappings and cut points that read its signals.",
    )
    text_removed_at = models.DateTimeField(null=True, blank=True, help_text="When retention blanked its text.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["integration", "external_id"], name="flag_idempotency")]
        indexes = [
            models.Index(fields=["account", "-occurred_at"], name="flag_account_time"),
            models.Index(fields=["-received_at"], name="flag_received"),
            # Retention reads the flags whose text it has not removed yet,
            # oldest first; the ones it has blanked leave this index.
            models.Index(
                fields=["integration", "received_at"], condition=Q(text_removed_at__isnull=True), name="flag_text_kept"
            ),
        ]

    def __str__(self) -> str:
        return f"flag {self.external_id}"


class Signal(models.Model):
    """One verdict inside a flag, normalised."""

    flag = models.ForeignKey(Flag, on_delete=models.CASCADE, related_name="signals")
    source_label = models.CharField(max_length=200)
    category = models.ForeignKey(Category, on_delete=models.PROTECT)
    score = models.FloatField(null=True, blank=True)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    severity = models.SmallIntegerField(null=True, blank=True)
    threshold = models.CharField(max_length=6, choices=Threshold.choices, help_text="The profile's, when judged.")
    met_threshold = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["category", "level"], name="signal_category_level")]

    def __str__(self) -> str:
        return f"{self.source_label} {self.get_level_display()}"

    LEVEL_NAMES: ClassVar[dict[int, str]] = {level.value: level.label for level in Level}


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Outcome(models.TextChoices):
    VIOLATING = "violating", "Violating"
    NOT_VIOLATING = "not_violating", "Not violating"
    ESCALATED = "escalated", "Escalated"


class DecisionQuerySet(models.QuerySet["Decision"]):
    def current(self) -> DecisionQuerySet:
        return self.filter(superseded_by__isnull=True)


class Decision(models.Model):
    """A reviewer's outcome on a case. A correction is a new decision that supersedes it."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=14, choices=Outcome.choices)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    note = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField()
    handling_seconds = models.PositiveIntegerField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    bulk = models.BooleanField(default=False, help_text="Made with a bulk decision.")

    objects = DecisionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["reviewer", "-decided_at"], name="decision_reviewer"),
            models.Index(fields=["-decided_at"], name="decision_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(outcome="violating") | (Q(category__isnull=False) & ~Q(severity="")),
                name="violating_needs_category_and_severity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} on case {self.case_id}"


class CaseSkip(models.Model):
    """A reviewer passed on a case; it is not offered to them again."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="skips")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=500)
    skipped_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "reviewer"], name="skip_once")]

    def __str__(self) -> str:
        return f"{self.reviewer} skipped case {self.case_id}"


class CalibrationDay(models.Model):
    """Flags that arrived on one UTC day, per integration, source, category and level.

    A flag counts once per category, at its highest level there. Written by
    `roll_up_calibration_days` once the day is over (a flag's `received_at`
    is the server's clock, so a finished day gets no more flags): the
    calibration numbers add these up instead of reading every flag and
    signal of the period again.
    """

    day = models.DateField()
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    flags = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "integration", "source", "category", "level"], name="calibration_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source} {self.category_id} {self.level}: {self.flags}"


class CalibrationRollup(models.Model):
    """A day whose CalibrationDay rows are complete (written in the same transaction)."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.day} rolled up"
