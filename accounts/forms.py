"""Forms of the account, action and appeal pages: they validate and normalise, the services decide."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet

from accounts.models import ActionKind, Violation

MAX_HOURS = 24 * 366
REASON_HELP = "Why — kept in the audit log."


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Note",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "aria-label": "Note"}),
        help_text="Seen by staff only, kept in the audit log.",
    )


class EvidenceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Violation) -> str:
        return f"{obj.category.name} · {obj.severity} · {obj.occurred_at:%Y-%m-%d %H:%M}"


class ProposeForm(forms.Form):
    """An action a senior proposes by hand; `proposal()` gives propose_action's arguments."""

    kind = forms.ChoiceField(choices=ActionKind.choices)
    scope = forms.CharField(
        max_length=200,
        required=False,
        help_text="Restrict only: what the platform switches off, e.g. tools:image_generation or rate_limit:10/min.",
    )
    hours = forms.IntegerField(
        min_value=1,
        max_value=MAX_HOURS,
        required=False,
        help_text="How long once applied; empty: until lifted. A suspension needs one, a termination has none.",
    )
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)
    evidence = EvidenceField(
        queryset=Violation.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The account's confirmed violations this action rests on.",
    )

    def __init__(self, *args: Any, evidence: QuerySet[Violation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(EvidenceField, self.fields["evidence"]).queryset = evidence

    def clean_kind(self) -> ActionKind:
        return ActionKind(self.cleaned_data["kind"])

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"].strip()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind = data.get("kind")
        if kind == ActionKind.RESTRICT and not data.get("scope"):
            self.add_error("scope", "A restriction needs a scope the platform understands, e.g. tools:computer_use.")
        if kind != ActionKind.RESTRICT and data.get("scope"):
            self.add_error("scope", "Only a restriction has a scope.")
        if kind == ActionKind.SUSPEND and not data.get("hours"):
            self.add_error("hours", "A suspension needs a duration.")
        if kind == ActionKind.TERMINATE and data.get("hours"):
            self.add_error("hours", "A termination has no end time.")
        return data

    def proposal(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "scope": data["scope"],
            "hours": data.get("hours"),
            "reason": data["reason"],
            "evidence": list(data["evidence"]),
        }


class StepForm(forms.Form):
    """Which transition a senior takes on an action, and why."""

    STEPS = [("approve", "Approve"), ("reject", "Reject"), ("apply", "Apply"), ("lift", "Lift")]

    step = forms.ChoiceField(choices=STEPS)
    reason = forms.CharField(max_length=1000)


class AppealDecisionForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("uphold", "Uphold the action"), ("reverse", "Reverse the action")])
    reason = forms.CharField(max_length=1000)

    def clean_outcome(self) -> bool:
        """True when the action is reversed: decide_appeal's `reverse`."""
        return self.cleaned_data["outcome"] == "reverse"
