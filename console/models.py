from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import models

from console.roles import Cap


class Capability(models.Model):
    """Carries the staff permissions (see console.roles); it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [(cap.value, cap.label) for cap in Cap]

    def __str__(self) -> str:
        return "capability"


class AuditVerb(models.TextChoices):
    STAFF_CREATED = "staff.created", "Staff user created"
    STAFF_ROLE_GRANTED = "staff.role_granted", "Role granted"
    STAFF_ROLE_REVOKED = "staff.role_revoked", "Role revoked"
    STAFF_PASSWORD_CHANGED = "staff.password_changed", "Password changed"
    STAFF_SETTINGS_CHANGED = "staff.settings_changed", "Personal settings changed"
    STAFF_LOGIN = "staff.login", "Signed in"
    STAFF_LOGOUT = "staff.logout", "Signed out"
    STAFF_LOGIN_FAILED = "staff.login_failed", "Sign-in failed"
    STAFF_LOGIN_LOCKED = "staff.login_locked", "Sign-in locked after repeated failures"
    STAFF_LOGIN_UNLOCKED = "staff.login_unlocked", "Sign-in lockout lifted"
    STAFF_SESSION_EXPIRED = "staff.session_expired", "Session expired"
    STAFF_SESSIONS_REVOKED = "staff.sessions_revoked", "Signed out everywhere"
    STAFF_ROLE_CHANGE_REFUSED = "staff.role_change_refused", "Role change refused"
    STAFF_2FA_ENABLED = "staff.2fa_enabled", "Two-factor sign-in turned on"
    STAFF_2FA_DISABLED = "staff.2fa_disabled", "Two-factor sign-in turned off"
    STAFF_2FA_RESET = "staff.2fa_reset", "Two-factor sign-in reset by an admin"
    STAFF_2FA_RECOVERY_USED = "staff.2fa_recovery_used", "Recovery code used"
    STAFF_2FA_RECOVERY_RENEWED = "staff.2fa_recovery_renewed", "Recovery codes replaced"
    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"
    INTEGRATION_CREATED = "integration.created", "Integration created"
    INTEGRATION_CHANGED = "integration.changed", "Integration changed"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    CASE_CLAIMED = "case.claimed", "Case claimed"
    CASE_RELEASED = "case.released", "Case released"
    CASE_SKIPPED = "case.skipped", "Case skipped"
    CASE_LEASE_EXPIRED = "case.lease_expired", "Case lease expired"
    CASE_DECIDED = "case.decided", "Case decided"
    CASE_ESCALATED = "case.escalated", "Case escalated"
    CASE_TAKEN_BACK = "case.taken_back", "Case taken back"
    DECISION_CORRECTED = "decision.corrected", "Decision corrected"
    QUEUE_CHANGED = "queue.changed", "Queue changed"
    CATEGORY_CHANGED = "category.changed", "Category changed"
    QUEUE_CREATED = "queue.created", "Queue created"
    PROFILE_CREATED = "profile.created", "Policy profile created"
    PROFILE_CHANGED = "profile.changed", "Policy profile changed"
    MAPPING_CHANGED = "mapping.changed", "Label mappings and cut points changed"
    ROUTING_CHANGED = "routing.changed", "Routing rules changed"
    RULE_CREATED = "rule.created", "Enforcement rule created"
    RULE_CHANGED = "rule.changed", "Enforcement rule changed"
    ACTION_PROPOSED = "action.proposed", "Action proposed"
    ACTION_APPROVAL_ADDED = "action.approval_added", "First of two approvals given"
    ACTION_APPROVED = "action.approved", "Action approved"
    ACTION_REJECTED = "action.rejected", "Action rejected"
    ACTION_APPLIED = "action.applied", "Action applied"
    ACTION_LIFTED = "action.lifted", "Action lifted"
    ACTION_EXPIRED = "action.expired", "Action expired"
    APPEAL_RECEIVED = "appeal.received", "Appeal received"
    APPEAL_UPHELD = "appeal.upheld", "Appeal decided: action upheld"
    APPEAL_REVERSED = "appeal.reversed", "Appeal decided: action reversed"
    ACCOUNT_NOTE_ADDED = "account.note_added", "Note added to an account"
    WEBHOOK_ENDPOINT_CREATED = "webhook.endpoint_created", "Webhook endpoint created"
    WEBHOOK_REDELIVERED = "webhook.redelivered", "Webhook delivery sent again"
    PROFILE_CALIBRATION_CHANGED = "profile.calibration_changed", "Calibration sample rate changed"
    RETENTION_CHANGED = "integration.retention_changed", "Text retention changed"
    RETENTION_APPLIED = "retention.applied", "Text removed by retention"
    # API abuse limits and audit coverage (h-apisec)
    API_KEY_RATE_CHANGED = "api_key.rate_changed", "API key rate limit changed"
    USAGE_RECORDED = "usage.recorded", "Usage reported"

    # Exports and scheduled reports (console/reports/).
    REPORT_EXPORTED = "report.exported", "Report exported (streamed)"
    EXPORT_REQUESTED = "export.requested", "Background export requested"
    EXPORT_COMPLETED = "export.completed", "Background export written"
    EXPORT_FAILED = "export.failed", "Background export failed"
    EXPORT_DOWNLOADED = "export.downloaded", "Export file downloaded"
    EXPORT_EXPIRED = "export.expired", "Export file deleted after its keep time"
    SUBSCRIPTION_CREATED = "report_subscription.created", "Report subscription created"
    SUBSCRIPTION_DELETED = "report_subscription.deleted", "Report subscription deleted"
    REPORT_MAILED = "report.mailed", "Scheduled report mailed"


class DocumentVersion(models.Model):
    """One saved state of a versioned policy document: a profile, a source's mappings, the routing, a rule.

    Concrete version tables add what the document belongs to; console.versioning
    numbers them, diffs them and shows their history the same way for all.
    """

    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField()
    restored_from = models.PositiveIntegerField(null=True, blank=True, help_text="The version this one restored.")

    class Meta:
        abstract = True
        ordering = ["-version"]


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def chain(self) -> AuditEntryQuerySet:
        return self.order_by("seq")


# What an entry's hash covers, in this order: every field, and the previous entry's hash.
HASHED_FIELDS = (
    "seq",
    "prev_hash",
    "created_at",
    "actor_type",
    "actor_id",
    "actor_label",
    "verb",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "reason",
)


def chain_hash(values: Sequence[Any]) -> str:
    """SHA-256 of an entry's HASHED_FIELDS values, in that order, as compact JSON (the time in UTC ISO 8601).

    Takes plain values rather than an entry so that verify_audit can check a
    million rows without building a million model instances.
    """
    seq, prev_hash, created_at, *rest = values
    payload = [seq, prev_hash, created_at.astimezone(UTC).isoformat(), *rest]
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


class AuditEntry(models.Model):
    """Who did what to what, when and why. Append-only and hash-chained.

    `seq` is contiguous from 1; `hash` covers every field and the previous
    entry's hash, so editing, deleting or reordering a row breaks the chain
    that `manage.py verify_audit` walks. On PostgreSQL a trigger also refuses
    UPDATE and DELETE outright (migration 0002).
    """

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=20)  # user / integration / system
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    # A closed enum (AuditVerb), checked by record(); not `choices=` so that a
    # new verb needs no migration.
    verb = models.CharField(max_length=40)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["verb", "-seq"], name="audit_verb_seq"),
            models.Index(fields=["actor_label", "-seq"], name="audit_actor_seq"),
            models.Index(fields=["target_type", "target_id", "-seq"], name="audit_target_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.verb} {self.target_type}:{self.target_id}"

    @property
    def verb_label(self) -> str:
        return AuditVerb(self.verb).label if self.verb in AuditVerb.values else self.verb

    def compute_hash(self) -> str:
        return chain_hash([getattr(self, name) for name in HASHED_FIELDS])


class AuditHead(models.Model):
    """The chain's tip: one row, locked by every writer so entries line up.

    It also lets verify_audit notice entries cut off the end of the chain.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"


class StaffProfile(models.Model):
    """Per-user console settings."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    blur_sensitive = models.BooleanField(default=True, help_text="Blur text in sensitive categories until I reveal it.")
    # Each session remembers the value it was signed in under; "sign out
    # everywhere" moves it on, and every session holding an older one ends.
    session_generation = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"settings of {self.user}"


class TotpDevice(models.Model):
    """A staff member's authenticator app (RFC 6238 TOTP: SHA-1, 6 digits, 30 s).

    Only confirmed devices exist: the secret waits in the enrolling session
    until the first code proves the app has it. `secret` is encrypted
    (console.twofactor); `last_counter` is the time step of the last code
    accepted, so a code is good once.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.TextField()
    last_counter = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"authenticator of {self.user}"


class RecoveryCodeQuerySet(models.QuerySet["RecoveryCode"]):
    def unused(self) -> RecoveryCodeQuerySet:
        return self.filter(used_at__isnull=True)


class RecoveryCode(models.Model):
    """One single-use recovery code, kept only as a keyed hash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = RecoveryCodeQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_once_per_user")]

    def __str__(self) -> str:
        return f"recovery code of {self.user}"


def jsonable(value: Any) -> Any:
    """What a JSONField gives back after a round trip, so the hash is stable."""
    return json.loads(json.dumps(value, default=str)) if value is not None else None


class Heartbeat(models.Model):
    """When a worker last ran the heartbeat job: /healthz reports its age."""

    name = models.CharField(max_length=60, unique=True)
    beat_at = models.DateTimeField()
    runs = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class Metric(models.TextChoices):
    """What an HourlyCount row counts, and what its key (and subkey) hold."""

    FLAGS = "flags", "Flags received (key: queued / below)"
    DECISIONS = "decisions", "Decisions made (key: outcome)"
    VERDICTS = "verdicts", "Standing verdicts (key: the case's category, subkey: outcome)"
    VIOLATIONS = "violations", "Confirmed violations not voided (key: category)"
    ACCOUNT_STATES = "account_states", "Accounts entering an enforcement state (key: state)"
    REVIEWER_DECISIONS = "reviewer_decisions", "Decisions by a reviewer (key: user id)"
    REVIEWER_TIMED = "reviewer_timed", "A reviewer's decisions with a handling time (key: user id)"
    REVIEWER_SECONDS = "reviewer_seconds", "Seconds a reviewer spent on those (key: user id)"
    WEBHOOK_ATTEMPTS = "webhook_attempts", "Webhook delivery attempts (key: delivered / failed)"


class HourlyCount(models.Model):
    """A pre-aggregated count for one UTC hour: what the dashboard and /metrics read.

    Derived data, rebuilt from the raw tables by console.aggregates (the
    periodic job re-counts the last hours; `manage.py backfill_hourly_counts`
    any range). A zero is stored as no row.
    """

    # A Metric value; not `choices=` so that a new metric needs no migration.
    metric = models.CharField(max_length=24)
    hour = models.DateTimeField(help_text="Start of the UTC hour.")
    key = models.CharField(max_length=64, blank=True)
    subkey = models.CharField(max_length=64, blank=True)
    value = models.BigIntegerField()

    class Meta:
        constraints = [
            # Also the index most reads use: one metric over a range of hours.
            models.UniqueConstraint(fields=["metric", "hour", "key", "subkey"], name="hourly_count_unique")
        ]
        # One key's hours (a reviewer's own decisions) without walking every reviewer's.
        indexes = [models.Index(fields=["metric", "key", "hour"], name="hourly_count_key")]

    def __str__(self) -> str:
        return f"{self.metric} {self.hour:%Y-%m-%d %H}h {self.key}/{self.subkey}: {self.value}"


# --- Exports and scheduled reports (console/reports/) -----------------------------


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class ReportSubscription(models.Model):
    """An ops user's standing order for a report, mailed once per day or week."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily (the previous day)"
        WEEKLY = "weekly", "Weekly (the previous Monday to Sunday)"

    class Delivery(models.TextChoices):
        ATTACHMENT = "attachment", "As an attachment"
        LINK = "link", "As a link to the file"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_subscriptions")
    report = models.CharField(max_length=40)
    filters = models.JSONField(default=dict, blank=True, help_text="Report filters, without the dates.")
    format = models.CharField(max_length=5, choices=ExportFormat.choices, default=ExportFormat.CSV)
    frequency = models.CharField(max_length=6, choices=Frequency.choices)
    delivery = models.CharField(max_length=10, choices=Delivery.choices, default=Delivery.ATTACHMENT)
    created_at = models.DateTimeField()
    # The period last mailed ("2025-06-01" or "2025-W22"): claiming the next one
    # is a conditional UPDATE on it, so each period is mailed once.
    last_period = models.CharField(max_length=10, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "id"]

    def __str__(self) -> str:
        return f"{self.report} {self.frequency} for {self.user}"


class ExportState(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file deleted)"


class Export(models.Model):
    """A report written to a file by a background task, downloadable by its owner until it expires."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    report = models.CharField(max_length=40)
    filters = models.JSONField(default=dict, blank=True)
    format = models.CharField(max_length=5, choices=ExportFormat.choices)
    subscription = models.ForeignKey(
        ReportSubscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    state = models.CharField(max_length=8, choices=ExportState.choices, default=ExportState.PENDING)
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(null=True, blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="Inside DOCKET_EXPORT_DIR.")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True, help_text="Last progress report of the running task.")
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["requested_by", "-id"], name="export_owner"),
            models.Index(fields=["expires_at"], condition=models.Q(state="done"), name="export_expiry"),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.report})"

    @property
    def is_active(self) -> bool:
        return self.state in (ExportState.PENDING, ExportState.RUNNING)

    @property
    def percent(self) -> int:
        if self.state == ExportState.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)
