"""Forms for the policy pages: each field says what it does; they validate and hand domain values over."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from console.roles import Role
from review.adapters import ADAPTERS
from review.adapters.defaults import HARM_DIMENSIONS
from review.models import CHILD_SAFETY, Category, Integration, Level, PolicyProfile, Queue, Threshold
from review.versions import CUT_LEVELS

REASON_HELP = "Why — kept with the version and in the audit log."
AUDIT_REASON_HELP = "Why — kept in the audit log."
HARM_LABELS = {
    "physical": "Physical",
    "psychological": "Psychological",
    "economic": "Economic",
    "societal": "Societal",
    "autonomy": "Individual autonomy",
}
LEVEL_CHOICES = [("negligible", "negligible"), ("low", "low"), ("medium", "medium"), ("high", "high")]
UNSAFE_CHOICES = [("low", "low"), ("medium", "medium"), ("high", "high")]


def _reason(help_text: str = REASON_HELP) -> forms.CharField:
    return forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), help_text=help_text)


def _reviewers() -> Any:
    return (
        get_user_model()
        .objects.filter(groups__name__in=[Role.REVIEWER, Role.SENIOR_REVIEWER])
        .distinct()
        .order_by("username")
    )


# --- Queues and categories ------------------------------------------------------------------------


class QueueForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What reviewers see on the Queues page.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="What waits here, in a sentence; shown under the queue's name.")
    priority = forms.IntegerField(min_value=-1000, max_value=1000,
                                  help_text="Orders the queues on the reviewers' page; higher first.")
    sla_minutes = forms.IntegerField(min_value=1, max_value=60 * 24 * 60, label="SLA (minutes)",
                                     help_text="A case waiting longer than this is past its SLA.")
    lease_minutes = forms.IntegerField(min_value=1, max_value=240, label="Lease (minutes)",
                                       help_text="How long a claim lasts without the page renewing it.")
    members = forms.ModelMultipleChoiceField(
        queryset=_reviewers(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Who may work this queue. Nobody ticked: every reviewer may.",
    )
    reason = forms.CharField(max_length=500, help_text=AUDIT_REASON_HELP)


class NewQueueForm(QueueForm):
    slug = forms.SlugField(
        max_length=40, required=False,
        help_text="The queue's name in the API's answers and in URLs; empty: made from the name. Cannot change later.",
    )

    field_order = ["name", "slug", "description", "priority", "sla_minutes", "lease_minutes", "members", "reason"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("name"):
            data["slug"] = data.get("slug") or slugify(data["name"])[:40]
            if Queue.objects.filter(slug=data["slug"]).exists():
                self.add_error("slug", "Another queue already has this slug.")
            if Queue.objects.filter(name__iexact=data["name"].strip()).exists():
                self.add_error("name", "Another queue already has this name.")
        return data


class CategoryForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What reviewers read when they choose this category.")
    harm_dimensions = forms.MultipleChoiceField(
        choices=[(d, HARM_LABELS.get(d, d)) for d in HARM_DIMENSIONS], required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Whom or what content in this category harms. Shown to reviewers and in reports.",
    )
    sensitive = forms.BooleanField(required=False,
                                   help_text="Blur text in this category on the case page until the reviewer "
                                   "reveals it (reviewers can turn blurring off for themselves).")
    adjustable = forms.BooleanField(
        required=False,
        help_text="Profiles may set its threshold. Not adjustable: every signal at low or above is reviewed, "
        "whatever the profile says. Child safety is never adjustable.",
    )
    reason = forms.CharField(max_length=500, help_text=AUDIT_REASON_HELP)

    def __init__(self, *args: Any, category: Category, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if category.slug == CHILD_SAFETY:
            self.fields["adjustable"].disabled = True


# --- Profiles -------------------------------------------------------------------------------------

THRESHOLD_HELP = (
    "What a signal in this category must reach to need a human: the PaLM safety settings' levels "
    "(Docket reviews where PaLM would block)."
)


class ProfileForm(forms.Form):
    """A profile's name, description and one `threshold_<category slug>` select per category.

    `threshold_rows()` gives the template one row per category, in the
    taxonomy's order; categories that are not adjustable show their fixed
    threshold, disabled, and are never sent to the service.
    """

    name = forms.CharField(max_length=80, help_text="How the integrations page and the history name it.")
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Who it is for and what it allows, e.g. “Game studios: fictional violence is the product”.",
    )
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = _reason()

    def __init__(self, *args: Any, categories: list[Category], stored: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.categories = categories
        self.stored = stored or {}
        for category in categories:
            fixed = category.slug == CHILD_SAFETY or not category.adjustable
            field = forms.ChoiceField(
                choices=Threshold.choices, label=category.name, help_text=category.description,
                initial=Threshold.LOW if fixed else self.stored.get(category.slug, Threshold.MEDIUM),
            )
            field.disabled = fixed
            self.fields[f"threshold_{category.slug}"] = field
        self.order_fields(["name", "description", *(f"threshold_{c.slug}" for c in categories), "based_on",
                           "reason"])

    def threshold_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "category": category,
                "field": self[f"threshold_{category.slug}"],
                "fixed": self.fields[f"threshold_{category.slug}"].disabled,
                "stored": self.stored.get(category.slug),
                "stored_label": _threshold_label(self.stored.get(category.slug)),
            }
            for category in self.categories
        ]

    def thresholds(self) -> dict[str, str]:
        """Category slug → threshold, for the adjustable categories only (valid forms)."""
        return {
            c.slug: self.cleaned_data[f"threshold_{c.slug}"]
            for c in self.categories
            if not self.fields[f"threshold_{c.slug}"].disabled
        }


def _threshold_label(value: str | None) -> str:
    if value is None:
        return "—"
    try:
        return str(Threshold(value).label)
    except ValueError:
        return value


class AssignProfileForm(forms.Form):
    profile = forms.ModelChoiceField(
        queryset=PolicyProfile.objects.order_by("name"),
        help_text="The thresholds its flags are judged by from now on; flags already in keep the version that "
        "judged them.",
    )
    reason = forms.CharField(max_length=500, help_text=AUDIT_REASON_HELP)


# --- Mappings and cut points ----------------------------------------------------------------------


class LabelRowForm(forms.Form):
    """One label of a source's table; an empty category removes the label."""

    label = forms.CharField(max_length=200, required=False)
    category = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, category_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = [("", "— not mapped —"), *category_choices]

    def clean_label(self) -> str:
        return self.cleaned_data["label"].strip()


class BaseLabelFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        seen: dict[str, str] = {}
        for form in self.forms:
            label, category = form.cleaned_data.get("label"), form.cleaned_data.get("category")
            if not label and category:
                form.add_error("label", "Give the label this category is for.")
            if not label or not category:
                continue
            if label.casefold() in seen:
                form.add_error(
                    "label", f"“{seen[label.casefold()]}” is already in the table: labels are matched ignoring case."
                )
            seen[label.casefold()] = label

    def labels(self) -> dict[str, str]:
        return {
            f.cleaned_data["label"]: f.cleaned_data["category"]
            for f in self.forms
            if f.cleaned_data.get("label") and f.cleaned_data.get("category")
        }


# The stubs' formset_factory returns type[BaseFormSet], forgetting the `formset` class it subclasses.
LabelFormSet = cast(
    type[BaseLabelFormSet],
    forms.formset_factory(LabelRowForm, formset=BaseLabelFormSet, extra=3, max_num=2000, validate_max=True),
)


class MappingSettingsForm(forms.Form):
    cut_low = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Low from",
        help_text="A score at or above this is low (below it: negligible).",
    )
    cut_medium = forms.FloatField(required=False, min_value=0, max_value=1, label="Medium from",
                                  help_text="A score at or above this is medium.")
    cut_high = forms.FloatField(required=False, min_value=0, max_value=1, label="High from",
                                help_text="A score at or above this is high.")
    unsafe_level = forms.ChoiceField(
        choices=UNSAFE_CHOICES, label="Level of a bare “unsafe”",
        help_text="For a verdict with no score and no level of its own: a Llama Guard code, Claude's "
        "violation without a risk level.",
    )
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = _reason()

    def __init__(self, *args: Any, severities: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.severities = severities or []
        for severity in self.severities:
            self.fields[f"severity_{severity}"] = forms.ChoiceField(
                choices=LEVEL_CHOICES, label=f"Severity {severity}",
                help_text="The level of a signal the source rates at this severity.",
            )

    def cut_fields(self) -> list[forms.BoundField]:
        return [self[f"cut_{level}"] for level in CUT_LEVELS]

    def severity_fields(self) -> list[forms.BoundField]:
        return [self[f"severity_{s}"] for s in self.severities]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        values = [data.get(f"cut_{level}") for level in CUT_LEVELS]
        given = [v is not None for v in values]
        if any(given) and not all(given) and not any(f"cut_{level}" in self.errors for level in CUT_LEVELS):
            self.add_error(None, "Give all three cut points, or none for a source that sends no scores.")
        elif all(given) and not values[0] < values[1] < values[2]:  # type: ignore[operator]
            self.add_error(None, "Cut points must rise: low below medium below high.")
        return data

    def cut_points(self) -> dict[str, float] | None:
        values = {level: self.cleaned_data.get(f"cut_{level}") for level in CUT_LEVELS}
        return values if all(v is not None for v in values.values()) else None  # type: ignore[return-value]

    def severity_levels(self) -> dict[str, str] | None:
        return {s: self.cleaned_data[f"severity_{s}"] for s in self.severities} or None


# --- Routing rules --------------------------------------------------------------------------------

MIN_LEVEL_CHOICES = [
    (Level.NEGLIGIBLE, "Any level"),
    (Level.LOW, "Low and above"),
    (Level.MEDIUM, "Medium and above"),
    (Level.HIGH, "High"),
]


class RoutingRuleForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Shown on the case page as the rule that chose the queue.")
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.filter(kind=Queue.Kind.REVIEW).order_by("-priority", "name"),
        help_text="Where matching cases go. Only review queues: escalations, appeals and the calibration "
        "sample fill themselves.",
    )
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.all(), to_field_name="slug", required=False, widget=forms.CheckboxSelectMultiple,
        help_text="The category of the signal that opened the case. None ticked: any category.",
    )
    min_level = forms.TypedChoiceField(
        choices=MIN_LEVEL_CHOICES, coerce=int, label="Level",
        help_text="That signal's level must be at least this.",
    )
    sources = forms.MultipleChoiceField(
        choices=[(s, s) for s in ADAPTERS], required=False, widget=forms.CheckboxSelectMultiple,
        help_text="The classifier that sent the flag. None ticked: any source.",
    )
    languages = forms.CharField(
        required=False, max_length=200,
        help_text="Language codes, comma-separated (en, de, pt): the flag's language must be one of them "
        "(en-GB counts as en). Empty: any language, including flags that name none.",
    )
    profiles = forms.ModelMultipleChoiceField(
        queryset=PolicyProfile.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="The profile of the integration that sent it. None ticked: any profile.",
    )
    integrations = forms.ModelMultipleChoiceField(
        queryset=Integration.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="The integration that sent it. None ticked: any integration.",
    )
    is_active = forms.BooleanField(
        required=False, label="Active",
        help_text="An inactive rule stays in the list, in its place, but matches nothing.",
    )
    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = _reason()

    GROUPS = [
        ("Rule", ["name", "queue", "is_active"]),
        ("Matches a case when", ["categories", "min_level", "sources", "languages", "profiles", "integrations"]),
        ("Why", ["reason"]),
    ]

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def clean_categories(self) -> list[str]:
        return [c.slug for c in self.cleaned_data["categories"]]

    def clean_languages(self) -> list[str]:
        raw = [part.strip().lower() for part in self.cleaned_data["languages"].replace(";", ",").split(",")]
        codes = [code.split("-")[0] for code in raw if code]
        bad = [code for code in codes if not (code.isascii() and code.isalpha() and 2 <= len(code) <= 3)]
        if bad:
            raise forms.ValidationError(f"“{bad[0]}” is not a language code: two or three letters, e.g. en, de, fil.")
        return list(dict.fromkeys(codes))

    def clean_profiles(self) -> list[PolicyProfile]:
        return list(self.cleaned_data["profiles"])

    def clean_integrations(self) -> list[Integration]:
        return list(self.cleaned_data["integrations"])


class RoutingOrderForm(forms.Form):
    """One `position_<rule id>` number per rule; the rules are tried in ascending order."""

    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, help_text=REASON_HELP, label="Why this order")

    def __init__(self, *args: Any, rule_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule_ids = rule_ids
        for n, pk in enumerate(rule_ids, 1):
            self.fields[f"position_{pk}"] = forms.IntegerField(min_value=1, max_value=10_000, initial=n,
                                                               label="Position")

    def order(self) -> list[int]:
        """Rule ids by their new number. On a tie, a rule moved up goes before the rule that had that number, and
        a rule moved down after it, as "put this one at 1" means; otherwise the current order holds."""
        current = {pk: n for n, pk in enumerate(self.rule_ids, 1)}

        def key(pk: int) -> tuple[int, int, int]:
            wanted = self.cleaned_data[f"position_{pk}"]
            moved = -1 if wanted < current[pk] else (1 if wanted > current[pk] else 0)
            return wanted, moved, current[pk]

        return sorted(self.rule_ids, key=key)
