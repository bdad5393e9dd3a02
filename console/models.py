from __future__ import annotations

import hashlib
import json
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


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def chain(self) -> AuditEntryQuerySet:
        return self.order_by("seq")


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
        payload = [
            self.seq,
            self.prev_hash,
            self.created_at.astimezone(UTC).isoformat(),
            self.actor_type,
            self.actor_id,
            self.actor_label,
            self.verb,
            self.target_type,
            self.target_id,
            self.target_label,
            self.before,
            self.after,
            self.reason,
        ]
        raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()


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

    def __str__(self) -> str:
        return f"settings of {self.user}"


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
