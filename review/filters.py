from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from console.access import has_cap
from console.roles import Cap
from review.models import Case, CaseStatus, Category, Integration, Level, Queue, Source
from review.selectors import with_source


class CaseFilter(django_filters.FilterSet):
    ORDERS = {"newest": ("-id",), "oldest": ("id",), "priority": ("-priority", "-id")}

    queue = django_filters.ModelChoiceFilter(queryset=Queue.objects.order_by("name"), empty_label="Any queue")
    status = django_filters.ChoiceFilter(choices=CaseStatus.choices, empty_label="Any status")
    category = django_filters.ModelChoiceFilter(queryset=Category.objects.all(), empty_label="Any category")
    level = django_filters.ChoiceFilter(choices=Level.choices, empty_label="Any level")
    source = django_filters.ChoiceFilter(choices=Source.choices, empty_label="Any source", method="filter_source")
    integration = django_filters.ModelChoiceFilter(queryset=Integration.objects.all(), empty_label="Any integration")
    calibration = django_filters.BooleanFilter(
        label="Calibration sample",
        widget=forms.Select(choices=[("", "Any case"), ("true", "Calibration samples"), ("false", "Not samples")]),
    )
    account = django_filters.CharFilter(field_name="account__user_hash", lookup_expr="startswith", label="Account hash")
    reviewer = django_filters.CharFilter(method="filter_reviewer", label="Reviewer")
    since = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte", label="From",
                                      widget=forms.DateInput(attrs={"type": "date"}))
    until = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte", label="To",
                                      widget=forms.DateInput(attrs={"type": "date"}))
    order = django_filters.ChoiceFilter(
        choices=[("newest", "Newest first"), ("oldest", "Oldest first"), ("priority", "Priority")],
        empty_label="Newest first", method="filter_nothing", label="Sort",
    )

    class Meta:
        model = Case
        fields: list[str] = []

    def __init__(self, *args: Any, request: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if request is not None and not has_cap(request.user, Cap.HANDLE_ESCALATIONS):
            from review.selectors import workable_queues

            self.filters["queue"].queryset = workable_queues(request.user).order_by("name")

    def filter_source(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return with_source(queryset, value) if value else queryset

    def filter_reviewer(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset.filter(decisions__reviewer__username=value).distinct() if value else queryset

    def filter_nothing(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return queryset
