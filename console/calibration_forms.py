"""Forms of the calibration and retention pages: they validate and normalise, nothing else."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from review.calibration import Period
from review.models import RETENTION_MAX_DAYS, Category, Integration, PolicyProfile, Threshold

MAX_PERIOD_DAYS = 366
DEFAULT_DAYS = 30


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"})


class CalibrationFilterForm(forms.Form):
    since = forms.DateField(required=False, label="From", widget=_date_input())
    until = forms.DateField(required=False, label="To (included)", widget=_date_input())
    integration = forms.ModelChoiceField(
        queryset=Integration.objects.order_by("name"), required=False, empty_label="Every integration"
    )
    profile = forms.ModelChoiceField(
        queryset=PolicyProfile.objects.order_by("name"), required=False, empty_label="Every profile",
        help_text="The integrations on this profile now.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        today = timezone.localdate()
        until = data.get("until") or today
        since = data.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            self.add_error("since", "The period must start on or before its end.")
        elif (until - since).days + 1 > MAX_PERIOD_DAYS:
            self.add_error("since", f"Choose a period of at most {MAX_PERIOD_DAYS} days.")
        data["since"], data["until"] = since, until
        return data

    def period(self) -> Period:
        """From the start of `since` to the end of `until`, in the console's time zone."""
        zone = timezone.get_current_timezone()
        since = datetime.combine(self.cleaned_data["since"], time.min, tzinfo=zone)
        until = datetime.combine(self.cleaned_data["until"] + timedelta(days=1), time.min, tzinfo=zone)
        return Period(since, until)


class WhatIfForm(forms.Form):
    """The what-if's GET contract: profile (pk), category (slug), threshold (off/high/medium/low), days."""

    profile = forms.ModelChoiceField(queryset=PolicyProfile.objects.order_by("name"), empty_label=None)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), to_field_name="slug", empty_label=None)
    threshold = forms.ChoiceField(choices=Threshold.choices, initial=Threshold.MEDIUM, label="Proposed threshold")
    days = forms.IntegerField(min_value=1, max_value=90, initial=DEFAULT_DAYS, required=False,
                              label="Over the last (days)")

    def clean_days(self) -> int:
        return self.cleaned_data.get("days") or DEFAULT_DAYS


class CalibrationRateForm(forms.Form):
    rate = forms.DecimalField(
        min_value=Decimal(0), max_value=Decimal(100), max_digits=5, decimal_places=2, label="Calibration rate (%)",
        help_text="The share of flags below every threshold sent to the calibration queue, at random. "
        "0 turns sampling off; 1 % of a million flags a day is 10,000 cases a day.",
    )
    reason = forms.CharField(max_length=500, help_text="Why — kept in the audit log.")


class RetentionForm(forms.Form):
    days = forms.IntegerField(
        min_value=1, max_value=RETENTION_MAX_DAYS, label="Keep prompt and response text for (days)",
        help_text="After this many days, and once nothing holds them (an open case, an action or an appeal), "
        "a flag's text is removed; its signals, metadata, content hash and decisions are kept.",
    )
    reason = forms.CharField(max_length=500, help_text="Why — kept in the audit log.")
