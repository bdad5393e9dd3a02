from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from console.roles import Role


class QueueForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    priority = forms.IntegerField(min_value=-1000, max_value=1000,
                                  help_text="Orders the queues on the reviewers' page; higher first.")
    sla_minutes = forms.IntegerField(min_value=1, max_value=60 * 24 * 60, label="SLA (minutes)",
                                     help_text="A case waiting longer than this is past its SLA.")
    lease_minutes = forms.IntegerField(min_value=1, max_value=240, label="Lease (minutes)",
                                       help_text="How long a claim lasts without the page renewing it.")
    members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(groups__name__in=[Role.REVIEWER, Role.SENIOR_REVIEWER])
        .distinct().order_by("username"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Who may work this queue. Nobody ticked: every reviewer may.",
    )
    reason = forms.CharField(max_length=500, help_text="Why — kept in the audit log.")


class CategoryForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What reviewers read when they choose this category.")
    sensitive = forms.BooleanField(required=False,
                                   help_text="Blur text in this category on the case page until the reviewer "
                                   "reveals it (reviewers can turn blurring off for themselves).")
    reason = forms.CharField(max_length=500, help_text="Why — kept in the audit log.")
