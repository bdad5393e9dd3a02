"""Staff roles and what each one may do.

Roles are Django groups; what a role may do is a Django permission on the
`console.Capability` model (a table-less model that only carries
permissions). Views ask `user.has_perm("console.<capability>")`, so the role
matrix lives here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    SENIOR_REVIEWER = "senior_reviewer", "Senior reviewer"
    POLICY_ADMIN = "policy_admin", "Policy admin"
    OPS = "ops", "Ops"
    AUDITOR = "auditor", "Auditor"
    STAFF_ADMIN = "staff_admin", "Staff admin"


class Cap(models.TextChoices):
    """Capabilities; the value is the permission codename on console.Capability."""

    VIEW_DASHBOARD = "view_dashboard", "See the dashboard"
    REVIEW_CASES = "review_cases", "Work review queues and decide cases"
    HANDLE_ESCALATIONS = "handle_escalations", "Take escalations, correct decisions, apply bulk decisions"
    APPROVE_ACTIONS = "approve_actions", "Approve, apply and lift account actions; decide appeals"
    VIEW_ACCOUNTS = "view_accounts", "See end-user accounts and their violation rates"
    MANAGE_POLICY = "manage_policy", "Change thresholds, profiles, queues, rules and retention"
    MANAGE_INTEGRATIONS = "manage_integrations", "Create integrations, API keys and webhooks"
    EXPORT_REPORTS = "export_reports", "Export reports"
    VIEW_AUDIT = "view_audit", "Read and verify the audit log"
    MANAGE_STAFF = "manage_staff", "Grant and remove other staff members' roles, reset their two-factor sign-in"
    VIEW_OPERATIONS = "view_operations", "See every queue's depth and SLA, volumes, violation and enforcement trends"
    VIEW_TEAM_METRICS = "view_team_metrics", "See reviewers' throughput and handling time"
    VIEW_CALIBRATION = "view_calibration", "See calibration alerts (categories whose violating share dropped)"


ROLE_CAPABILITIES: dict[Role, frozenset[Cap]] = {
    Role.REVIEWER: frozenset({Cap.VIEW_DASHBOARD, Cap.REVIEW_CASES}),
    Role.SENIOR_REVIEWER: frozenset(
        {
            Cap.VIEW_DASHBOARD,
            Cap.REVIEW_CASES,
            Cap.HANDLE_ESCALATIONS,
            Cap.APPROVE_ACTIONS,
            Cap.VIEW_ACCOUNTS,
            Cap.VIEW_OPERATIONS,
            Cap.VIEW_TEAM_METRICS,
        }
    ),
    Role.POLICY_ADMIN: frozenset(
        {Cap.VIEW_DASHBOARD, Cap.MANAGE_POLICY, Cap.MANAGE_INTEGRATIONS, Cap.VIEW_OPERATIONS, Cap.VIEW_CALIBRATION}
    ),
    Role.OPS: frozenset(
        {
            Cap.VIEW_DASHBOARD,
            Cap.VIEW_ACCOUNTS,
            Cap.MANAGE_INTEGRATIONS,
            Cap.EXPORT_REPORTS,
            Cap.VIEW_OPERATIONS,
            Cap.VIEW_TEAM_METRICS,
            Cap.VIEW_CALIBRATION,
        }
    ),
    Role.AUDITOR: frozenset({Cap.VIEW_DASHBOARD, Cap.VIEW_AUDIT, Cap.VIEW_OPERATIONS}),
    # Kept apart from the other roles: whoever hands out roles should not also
    # decide cases or set policy, and nobody may change their own roles.
    Role.STAFF_ADMIN: frozenset({Cap.VIEW_DASHBOARD, Cap.MANAGE_STAFF}),
}

# Roles whose holders must sign in with a second factor (when DOCKET_REQUIRE_2FA
# is on): everyone who can act on end users' accounts, change policy, reach
# integrations' keys, read the whole audit log or hand out roles.
TWO_FACTOR_ROLES: frozenset[Role] = frozenset(
    {Role.SENIOR_REVIEWER, Role.POLICY_ADMIN, Role.OPS, Role.AUDITOR, Role.STAFF_ADMIN}
)


def perm(cap: Cap) -> str:
    return f"console.{cap.value}"


def sync_roles(apps: Any) -> None:
    """Create the role groups and give each exactly its capabilities.

    Takes an app registry so that migrations can pass their historical one;
    idempotent, so tests whose database was flushed can call it again.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_type, _ = ContentType.objects.get_or_create(app_label="console", model="capability")
    for cap in Cap:
        Permission.objects.get_or_create(content_type=content_type, codename=cap.value, defaults={"name": cap.label})
    for role, caps in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(
            Permission.objects.filter(content_type=content_type, codename__in=[c.value for c in caps])
        )


def roles_of(user: Any) -> list[Role]:
    names = {g.name for g in user.groups.all()} if user.is_authenticated else set()
    return [role for role in Role if role.value in names]
