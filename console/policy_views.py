"""Policy administration: categories, queues and routing, profiles, a source's mappings and cut points.

Profiles, mappings and routing are versioned documents (review/versions.py):
every save asks for a reason and makes a version; the history pages show each
version's diff and restore an earlier one as a new version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db.models import Count, Max
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.admin_forms import RestoreForm
from console.access import AuthenticatedRequest, require
from console.policy_forms import (
    AssignProfileForm,
    CategoryForm,
    LabelFormSet,
    MappingSettingsForm,
    NewQueueForm,
    ProfileForm,
    QueueForm,
    RoutingOrderForm,
    RoutingRuleForm,
)
from console.roles import Cap
from console.versioning import history_page
from review.adapters import ADAPTERS
from review.models import (
    Category,
    Integration,
    LabelMapping,
    MappingVersion,
    PolicyProfile,
    ProfileVersion,
    Queue,
    RoutingRule,
    RoutingVersion,
    SourceSettings,
)
from review.services.admin import create_queue, update_category, update_queue
from review.services.policy import (
    RuleData,
    assign_profile,
    change_mapping,
    change_profile,
    create_profile,
    reorder_routing,
    restore_mapping,
    restore_profile,
    restore_routing,
    save_routing_rule,
)
from review.versions import (
    MappingDocument,
    ProfileDocument,
    RoutingDocument,
    mapping_snapshot,
    profile_snapshot,
    routing_snapshot,
)


def _latest(versions: Any) -> int | None:
    return versions.order_by("-version").values_list("version", flat=True).first()


def _bound(request: AuthenticatedRequest) -> Any:
    return request.POST if request.method == "POST" else None


# --- Queues ---------------------------------------------------------------------------------------


@require(Cap.MANAGE_POLICY)
def queues(request: AuthenticatedRequest) -> HttpResponse:
    rows = list(Queue.objects.prefetch_related("members").order_by("-priority", "name"))
    routed: dict[int, list[RoutingRule]] = defaultdict(list)
    for rule in RoutingRule.objects.order_by("position", "pk"):
        routed[rule.queue_id].append(rule)
    for queue in rows:
        queue.routing_rules = routed.get(queue.pk, [])  # type: ignore[attr-defined]
    return render(request, "console/policy_queues.html", {"queues": rows})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def queue_new(request: AuthenticatedRequest) -> HttpResponse:
    form = NewQueueForm(_bound(request), initial={"priority": 0, "sla_minutes": 24 * 60, "lease_minutes": 10})
    if request.method == "POST" and form.is_valid():
        try:
            queue = create_queue(actor=request.user, **form.cleaned_data)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Queue {queue.name} created. Add a routing rule to send cases to it.")
            return redirect("console:policy_queues")
    return render(request, "console/policy_form.html",
                  {"form": form, "title": "New queue", "back": reverse("console:policy_queues"),
                   "lede": "A queue of cases for reviewers. Routing rules decide which cases come here."},
                  status=400 if form.is_bound else 200)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def queue_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    queue = get_object_or_404(Queue, pk=pk)
    initial = {"name": queue.name, "description": queue.description, "priority": queue.priority,
               "sla_minutes": queue.sla_minutes, "lease_minutes": queue.lease_minutes,
               "members": list(queue.members.all())}
    form = QueueForm(_bound(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        update_queue(actor=request.user, queue=queue, **form.cleaned_data)
        messages.success(request, f"Queue {queue.name} saved.")
        return redirect("console:policy_queues")
    return render(request, "console/policy_form.html",
                  {"form": form, "title": f"Queue: {queue.name}", "back": reverse("console:policy_queues")})


# --- Categories -----------------------------------------------------------------------------------


@require(Cap.MANAGE_POLICY)
def categories(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, "console/policy_categories.html", {"categories": Category.objects.all()})


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def category_edit(request: AuthenticatedRequest, slug: str) -> HttpResponse:
    category = get_object_or_404(Category, slug=slug)
    initial = {"description": category.description, "harm_dimensions": category.harm_dimensions,
               "sensitive": category.sensitive, "adjustable": category.adjustable}
    form = CategoryForm(_bound(request), initial=initial, category=category)
    if request.method == "POST" and form.is_valid():
        try:
            update_category(actor=request.user, category=category, **form.cleaned_data)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Category {category.name} saved.")
            return redirect("console:policy_categories")
    return render(request, "console/policy_form.html",
                  {"form": form, "title": f"Category: {category.name}", "back": reverse("console:policy_categories"),
                   "lede": "Changes here are audited. Thresholds per category are set in each policy profile."},
                  status=400 if form.is_bound else 200)


# --- Restoring, the same for every document -------------------------------------------------------


def _restore(request: AuthenticatedRequest, *, version: int, noun: str, restore: Callable[[str], Any], back: str
             ) -> HttpResponse:
    form = RestoreForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was restored: say why you are going back to this version.")
        return redirect(back)
    try:
        saved = restore(form.cleaned_data["reason"])
    except ValueError as exc:
        text = str(exc)
        if text.startswith("Nothing changed"):
            text = f"the {noun} is already as it was in version {version}."
        messages.error(request, f"Nothing was restored: {text[0].lower()}{text[1:]}")
    else:
        messages.success(request, f"Version {version} restored as version {saved.version}.")
    return redirect(back)


# --- Profiles -------------------------------------------------------------------------------------


@require(Cap.MANAGE_POLICY)
def profiles(request: AuthenticatedRequest) -> HttpResponse:
    rows = PolicyProfile.objects.annotate(
        version=Max("versions__version"), integration_count=Count("integrations", distinct=True)
    ).order_by("name")
    integrations = Integration.objects.select_related("profile").order_by("name")
    choices = list(PolicyProfile.objects.order_by("name").values_list("pk", "name"))
    return render(request, "console/policy_profiles.html",
                  {"profiles": rows, "integrations": integrations, "profile_choices": choices})


def _categories() -> list[Category]:
    return list(Category.objects.all())


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def profile_new(request: AuthenticatedRequest) -> HttpResponse:
    copy = request.GET.get("from", "")
    source = PolicyProfile.objects.filter(pk=int(copy)).first() if copy.isdigit() and len(copy) < 10 else None
    source = source or PolicyProfile.objects.filter(name="Default").first()
    stored = profile_snapshot(source)["thresholds"] if source else {}
    form = ProfileForm(_bound(request), categories=_categories(), stored=stored)
    if request.method == "POST" and form.is_valid():
        try:
            version = create_profile(actor=request.user, name=form.cleaned_data["name"],
                                     description=form.cleaned_data["description"],
                                     thresholds=form.thresholds(), reason=form.cleaned_data["reason"])
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Profile {version.profile.name} created (version 1).")
            return redirect("console:policy_profiles")
    return render(request, "console/policy_profile_form.html",
                  {"form": form, "profile": None, "copied_from": source},
                  status=400 if form.is_bound else 200)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def profile_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(PolicyProfile, pk=pk)
    current = _latest(profile.versions)
    snapshot = profile_snapshot(profile)
    form = ProfileForm(
        _bound(request), categories=_categories(), stored=snapshot["thresholds"],
        initial={"name": profile.name, "description": profile.description, "based_on": current},
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = change_profile(
                actor=request.user, profile=profile, name=form.cleaned_data["name"],
                description=form.cleaned_data["description"], thresholds=form.thresholds(),
                reason=form.cleaned_data["reason"], based_on=form.cleaned_data["based_on"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Profile {version.profile.name} saved as version {version.version}.")
            return redirect(reverse("console:policy_profile_history", args=[profile.pk]) + f"#v{version.version}")
    return render(request, "console/policy_profile_form.html",
                  {"form": form, "profile": profile, "version": current,
                   "integrations": list(profile.integrations.order_by("name").values_list("name", flat=True))},
                  status=400 if form.is_bound else 200)


@require(Cap.MANAGE_POLICY)
def profile_history(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(PolicyProfile, pk=pk)
    history = history_page(
        ProfileDocument(Category.objects.values_list("slug", "name")),
        ProfileVersion.objects.filter(profile=profile).select_related("author"),
        params=request.GET,
        current=profile_snapshot(profile),
        restore_url=lambda n: reverse("console:policy_profile_restore", args=[profile.pk, n]),
    )
    return render(request, "console/policy_history.html", {
        "title": profile.name, "noun": "profile", "rows": history.rows, "page": history.page,
        "crumb": ("Profiles", reverse("console:policy_profiles")),
        "edit_url": reverse("console:policy_profile", args=[profile.pk]),
    })


@require(Cap.MANAGE_POLICY)
@require_POST
def profile_restore(request: AuthenticatedRequest, pk: int, version: int) -> HttpResponse:
    profile = get_object_or_404(PolicyProfile, pk=pk)
    get_object_or_404(ProfileVersion, profile=profile, version=version)
    return _restore(
        request, version=version, noun="profile",
        restore=lambda reason: restore_profile(actor=request.user, profile=profile, version=version, reason=reason),
        back=reverse("console:policy_profile_history", args=[profile.pk]),
    )


@require(Cap.MANAGE_POLICY)
@require_POST
def integration_profile(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    form = AssignProfileForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"{integration.name} was not changed: choose a profile and say why.")
        return redirect("console:policy_profiles")
    try:
        assign_profile(actor=request.user, integration=integration, **form.cleaned_data)
    except ValueError as exc:
        messages.error(request, f"{integration.name} was not changed: {exc}")
    else:
        messages.success(request, f"{integration.name} is now judged by {form.cleaned_data['profile'].name}.")
    return redirect("console:policy_profiles")


# --- A source's mappings and cut points -----------------------------------------------------------


def _source_or_404(source: str) -> str:
    if source not in ADAPTERS:
        raise Http404("No such source.")
    return source


@require(Cap.MANAGE_POLICY)
def mappings(request: AuthenticatedRequest) -> HttpResponse:
    labels = dict(LabelMapping.objects.values("source").annotate(n=Count("pk")).values_list("source", "n"))
    spread = dict(
        LabelMapping.objects.values("source").annotate(n=Count("category", distinct=True)).values_list("source", "n")
    )
    versions = dict(MappingVersion.objects.values("source").annotate(v=Max("version")).values_list("source", "v"))
    settings = {s.source: s for s in SourceSettings.objects.all()}
    rows = [
        {"source": source, "labels": labels.get(source, 0), "categories": spread.get(source, 0),
         "settings": settings.get(source), "version": versions.get(source)}
        for source in ADAPTERS
    ]
    return render(request, "console/policy_mappings.html", {"rows": rows})


def _label_initial(source: str) -> list[dict[str, str]]:
    return [{"label": label, "category": category} for label, category in mapping_snapshot(source)["labels"].items()]


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def mapping_edit(request: AuthenticatedRequest, source: str) -> HttpResponse:
    source = _source_or_404(source)
    snapshot = mapping_snapshot(source)
    current = _latest(MappingVersion.objects.filter(source=source))
    severities = list((snapshot["severity_levels"] or {}).keys())
    if not severities and source == "azure":
        severities = [str(n) for n in range(8)]
    cuts = snapshot["cut_points"] or {}
    initial = {f"cut_{level}": value for level, value in cuts.items()}
    initial |= {f"severity_{k}": v for k, v in (snapshot["severity_levels"] or {}).items()}
    initial |= {"unsafe_level": snapshot["unsafe_level"], "based_on": current}
    choices = list(Category.objects.values_list("slug", "name"))
    form = MappingSettingsForm(_bound(request), initial=initial, severities=severities)
    labels = LabelFormSet(_bound(request), initial=_label_initial(source), prefix="labels",
                          form_kwargs={"category_choices": choices})
    if request.method == "POST" and form.is_valid() and labels.is_valid():
        try:
            version = change_mapping(
                actor=request.user, source=source, labels=labels.labels(), cut_points=form.cut_points(),
                severity_levels=form.severity_levels(), unsafe_level=form.cleaned_data["unsafe_level"],
                reason=form.cleaned_data["reason"], based_on=form.cleaned_data["based_on"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"The {source} mappings were saved as version {version.version}.")
            return redirect(reverse("console:policy_mapping_history", args=[source]) + f"#v{version.version}")
    return render(request, "console/policy_mapping_form.html",
                  {"source": source, "form": form, "labels": labels, "version": current},
                  status=400 if form.is_bound else 200)


@require(Cap.MANAGE_POLICY)
def mapping_history(request: AuthenticatedRequest, source: str) -> HttpResponse:
    source = _source_or_404(source)
    history = history_page(
        MappingDocument(dict(Category.objects.values_list("slug", "name"))),
        MappingVersion.objects.filter(source=source).select_related("author"),
        params=request.GET,
        current=mapping_snapshot(source),
        restore_url=lambda n: reverse("console:policy_mapping_restore", args=[source, n]),
    )
    return render(request, "console/policy_history.html", {
        "title": f"{source} mappings", "noun": "mapping", "rows": history.rows, "page": history.page,
        "crumb": ("Mappings", reverse("console:policy_mappings")),
        "edit_url": reverse("console:policy_mapping", args=[source]),
    })


@require(Cap.MANAGE_POLICY)
@require_POST
def mapping_restore(request: AuthenticatedRequest, source: str, version: int) -> HttpResponse:
    source = _source_or_404(source)
    get_object_or_404(MappingVersion, source=source, version=version)
    return _restore(
        request, version=version, noun="mapping",
        restore=lambda reason: restore_mapping(actor=request.user, source=source, version=version, reason=reason),
        back=reverse("console:policy_mapping_history", args=[source]),
    )


# --- Routing rules --------------------------------------------------------------------------------


@require(Cap.MANAGE_POLICY)
def routing(request: AuthenticatedRequest) -> HttpResponse:
    rules = list(RoutingRule.objects.order_by("position", "pk"))
    current = _latest(RoutingVersion.objects.all())
    form = RoutingOrderForm(rule_ids=[r.pk for r in rules], initial={"based_on": current})
    return _routing_page(request, rules, form, current)


def _routing_page(request: AuthenticatedRequest, rules: list[RoutingRule], form: RoutingOrderForm, current: int | None,
                  *, status: int = 200) -> HttpResponse:
    document = RoutingDocument()
    described = {r["id"]: document.describe(r) for r in routing_snapshot()["rules"]}
    rows = [{"rule": rule, "summary": described.get(rule.pk, ""), "position": form[f"position_{rule.pk}"]}
            for rule in rules]
    default = Queue.objects.filter(is_default=True).first()
    return render(request, "console/policy_routing.html",
                  {"rows": rows, "form": form, "version": current, "default_queue": default}, status=status)


@require(Cap.MANAGE_POLICY)
@require_POST
def routing_order(request: AuthenticatedRequest) -> HttpResponse:
    rules = list(RoutingRule.objects.order_by("position", "pk"))
    current = _latest(RoutingVersion.objects.all())
    form = RoutingOrderForm(request.POST, rule_ids=[r.pk for r in rules])
    if form.is_valid():
        try:
            version = reorder_routing(actor=request.user, order=form.order(), reason=form.cleaned_data["reason"],
                                      based_on=form.cleaned_data["based_on"])
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"New order saved as routing version {version.version}.")
            return redirect("console:policy_routing")
    return _routing_page(request, rules, form, current, status=400)


def _rule_data(form: RoutingRuleForm) -> RuleData:
    data = form.cleaned_data
    return RuleData(name=data["name"], queue=data["queue"], categories=data["categories"],
                    min_level=data["min_level"], sources=data["sources"], languages=data["languages"],
                    profiles=data["profiles"], integrations=data["integrations"], is_active=data["is_active"])


def _rule_form_page(request: AuthenticatedRequest, rule: RoutingRule | None) -> HttpResponse:
    current = _latest(RoutingVersion.objects.all())
    initial: dict[str, Any] = {"is_active": True, "min_level": 0, "based_on": current}
    if rule is not None:
        initial |= {
            "name": rule.name, "queue": rule.queue, "categories": rule.categories, "min_level": rule.min_level,
            "sources": rule.sources, "languages": ", ".join(rule.languages), "profiles": list(rule.profiles.all()),
            "integrations": list(rule.integrations.all()), "is_active": rule.is_active,
        }
    form = RoutingRuleForm(_bound(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = save_routing_rule(actor=request.user, rule=rule, data=_rule_data(form),
                                        reason=form.cleaned_data["reason"], based_on=form.cleaned_data["based_on"])
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Routing rule “{form.cleaned_data['name']}” saved: routing version "
                             f"{version.version}.")
            return redirect("console:policy_routing")
    return render(request, "console/policy_routing_rule.html", {"form": form, "rule": rule, "version": current},
                  status=400 if form.is_bound else 200)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def routing_rule_new(request: AuthenticatedRequest) -> HttpResponse:
    return _rule_form_page(request, None)


@require(Cap.MANAGE_POLICY)
@require_http_methods(["GET", "POST"])
def routing_rule_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    return _rule_form_page(request, get_object_or_404(RoutingRule, pk=pk))


@require(Cap.MANAGE_POLICY)
def routing_history(request: AuthenticatedRequest) -> HttpResponse:
    history = history_page(
        RoutingDocument(),
        RoutingVersion.objects.select_related("author"),
        params=request.GET,
        current=routing_snapshot(),
        restore_url=lambda n: reverse("console:policy_routing_restore", args=[n]),
    )
    return render(request, "console/policy_history.html", {
        "title": "Routing rules", "noun": "routing", "rows": history.rows, "page": history.page,
        "crumb": ("Routing", reverse("console:policy_routing")), "edit_url": reverse("console:policy_routing"),
    })


@require(Cap.MANAGE_POLICY)
@require_POST
def routing_restore(request: AuthenticatedRequest, version: int) -> HttpResponse:
    get_object_or_404(RoutingVersion, version=version)
    return _restore(
        request, version=version, noun="routing",
        restore=lambda reason: restore_routing(actor=request.user, version=version, reason=reason),
        back=reverse("console:policy_routing_history"),
    )
