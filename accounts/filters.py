"""Filters for the accounts and actions lists.

Sorting by a violation window or a rate reads the AccountRates indexes; an
account gets its rates row with its first violation or usage report, so
accounts with neither are not in those sorts (they would all tie at zero).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import Account, Action, ActionKind, ActionState, EnforcementState, Violation, Window
from review.models import Category, Integration

WINDOW_FIELDS = {Window.DAY: "v24h", Window.WEEK: "v7d", Window.MONTH: "v30d", Window.QUARTER: "v90d"}


class Sort:
    """One way to order the accounts list: what to annotate, the keyset order, whether rates must exist."""

    def __init__(self, label: str, order: tuple[str, ...], *, rates_field: str | None = None) -> None:
        self.label, self.order, self.rates_field = label, order, rates_field

    def apply(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.rates_field is None:
            return queryset
        # Annotated under its own name so the keyset cursor can read it off the row.
        key = self.order[0].lstrip("-")
        return queryset.filter(**{f"rates__{self.rates_field}__isnull": False}).annotate(
            **{key: F(f"rates__{self.rates_field}")}
        )


SORTS: dict[str, Sort] = {
    "v24h": Sort("Violations, 24 h", ("-sort_v24h", "-id"), rates_field="v24h"),
    "v7d": Sort("Violations, 7 d", ("-sort_v7d", "-id"), rates_field="v7d"),
    "v30d": Sort("Violations, 30 d", ("-sort_v30d", "-id"), rates_field="v30d"),
    "v90d": Sort("Violations, 90 d", ("-sort_v90d", "-id"), rates_field="v90d"),
    "rate_30d": Sort("Per 1,000 requests, 30 d", ("-sort_rate_30d", "-id"), rates_field="rate_30d"),
    "violation_count": Sort("Violations, all time", ("-violation_count", "-id")),
    "flag_count": Sort("Flags, all time", ("-flag_count", "-id")),
    "last_seen": Sort("Last seen", ("-last_seen", "-id")),
}
DEFAULT_SORT = "v30d"


class AccountFilter(django_filters.FilterSet):
    integration = django_filters.ModelChoiceFilter(
        queryset=Integration.objects.order_by("name"), empty_label="Any integration"
    )
    state = django_filters.ChoiceFilter(choices=EnforcementState.choices, empty_label="Any state")
    category = django_filters.ModelChoiceFilter(
        queryset=Category.objects.all(),
        empty_label="Any category",
        method="filter_category",
        label="Violated category",
    )
    min_violations = django_filters.NumberFilter(
        method="filter_min_violations",
        label="At least",
        min_value=1,
        widget=forms.NumberInput(attrs={"min": 1, "max": 100000, "class": "short"}),
    )
    window = django_filters.ChoiceFilter(
        choices=Window.choices, empty_label="in 30 days", method="filter_nothing", label="violations in"
    )
    account = django_filters.CharFilter(
        field_name="user_hash",
        lookup_expr="startswith",
        label="Account hash",
        widget=forms.TextInput(attrs={"maxlength": 64, "spellcheck": "false", "autocomplete": "off"}),
    )
    sort = django_filters.ChoiceFilter(
        choices=[(key, sort.label) for key, sort in SORTS.items() if key != DEFAULT_SORT],
        empty_label=SORTS[DEFAULT_SORT].label,
        method="filter_nothing",
        label="Sort by (highest first)",
    )

    class Meta:
        model = Account
        fields: list[str] = []

    def _window(self) -> Window:
        value = self.form.cleaned_data.get("window")
        return Window(value) if value else Window.MONTH

    def filter_category(self, queryset: QuerySet[Any], name: str, value: Category | None) -> QuerySet[Any]:
        """Accounts with a confirmed violation of this category; within the window when one is chosen."""
        if value is None:
            return queryset
        violations = Violation.objects.confirmed().filter(account=OuterRef("pk"), category=value)
        if self.form.cleaned_data.get("window"):
            violations = violations.filter(occurred_at__gte=timezone.now() - self._window().delta)
        return queryset.filter(Exists(violations))

    def filter_min_violations(self, queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        if value is None:
            return queryset
        return queryset.filter(**{f"rates__{WINDOW_FIELDS[self._window()]}__gte": int(value)})

    def filter_nothing(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset

    def chosen_sort(self) -> Sort:
        key = self.form.cleaned_data.get("sort") if self.form.is_valid() else None
        return SORTS.get(key or DEFAULT_SORT, SORTS[DEFAULT_SORT])


class ActionFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ActionState.choices, empty_label="Any state")
    kind = django_filters.ChoiceFilter(choices=ActionKind.choices, empty_label="Any kind")
    account = django_filters.CharFilter(
        field_name="account__user_hash",
        lookup_expr="startswith",
        label="Account hash",
        widget=forms.TextInput(attrs={"maxlength": 64, "spellcheck": "false", "autocomplete": "off"}),
    )

    class Meta:
        model = Action
        fields: list[str] = []
