"""The console's navigation: each entry shows only to roles that may open it."""

from __future__ import annotations

from dataclasses import dataclass

from console.roles import Cap


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    caps: tuple[Cap, ...]


NAV: list[NavItem] = [
    NavItem("Dashboard", "console:home", (Cap.VIEW_DASHBOARD,)),
    NavItem("Queues", "review:queues", (Cap.REVIEW_CASES,)),
    NavItem("Cases", "review:cases", (Cap.REVIEW_CASES,)),
    NavItem("Accounts", "accounts:accounts", (Cap.VIEW_ACCOUNTS,)),
    NavItem("Actions", "accounts:actions", (Cap.APPROVE_ACTIONS,)),
    NavItem("Integrations", "review:integrations", (Cap.MANAGE_INTEGRATIONS,)),
    NavItem("Webhooks", "accounts:webhooks", (Cap.MANAGE_INTEGRATIONS,)),
    NavItem("Queue settings", "console:policy_queues", (Cap.MANAGE_POLICY,)),
    NavItem("Categories", "console:policy_categories", (Cap.MANAGE_POLICY,)),
    NavItem("Profiles", "console:policy_profiles", (Cap.MANAGE_POLICY,)),
    NavItem("Mappings", "console:policy_mappings", (Cap.MANAGE_POLICY,)),
    NavItem("Routing", "console:policy_routing", (Cap.MANAGE_POLICY,)),
    NavItem("Rules", "accounts:rules", (Cap.MANAGE_POLICY,)),
    NavItem("Calibration", "console:policy_calibration", (Cap.MANAGE_POLICY,)),
    NavItem("Retention", "console:policy_retention", (Cap.MANAGE_POLICY,)),
    NavItem("Audit log", "console:audit", (Cap.VIEW_AUDIT,)),
    NavItem("Staff", "console:staff", (Cap.MANAGE_STAFF,)),
    NavItem("Exports", "console:exports", (Cap.EXPORT_REPORTS,)),
]
