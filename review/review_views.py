"""The reviewer's screens: queues, the case page and its decisions, the case list."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.selectors import appeal_of
from console.access import AuthenticatedRequest, has_cap, require
from console.models import StaffProfile
from console.pagination import keyset_page
from console.roles import Cap
from review import selectors, services
from review.filters import CaseFilter
from review.forms import SEVERITY_FOR_LEVEL, BulkDecisionForm, CorrectionForm, ReasonForm, VerdictForm
from review.models import Case, Decision, Queue
from review.services import CaseNotHeld, InvalidDecision


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@require(Cap.REVIEW_CASES)
def queues(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, "review/queues.html", {"rows": selectors.queue_overview(request.user)})


@require(Cap.REVIEW_CASES)
@require_POST
def start(request: AuthenticatedRequest, queue_pk: int) -> HttpResponse:
    queue = selectors.queue_for(request.user, queue_pk)
    case = services.claim_next_case(actor=request.user, queue=queue)
    if case is None:
        messages.info(request, f"{queue.name} has no case waiting for you.")
        return redirect("review:queues")
    return redirect("review:case", pk=case.pk)


def workspace_context(request: AuthenticatedRequest, case: Case, *, form: VerdictForm | None = None) -> dict[str, Any]:
    flags = selectors.case_flags(case)
    profile = StaffProfile.objects.filter(user=request.user).first()
    sensitive = selectors.sensitive_categories(flags)
    held = case.held_by(request.user)
    initial = {"category": case.category_id, "severity": SEVERITY_FOR_LEVEL.get(case.level, "medium")}
    return {
        "case": case,
        "flags": flags,
        "held": held,
        "form": form or VerdictForm(initial=initial),
        "panel": selectors.account_panel(case),
        "decisions": selectors.decisions_of(case),
        "sensitive": sensitive,
        "blurred": bool(sensitive) and (profile is None or profile.blur_sensitive),
        "can_correct": has_cap(request.user, Cap.HANDLE_ESCALATIONS),
        "correction_form": CorrectionForm(initial=initial),
        "appeal": appeal_of(case),  # a case of the appeals queue shows its appeal panel
        "judged_by": selectors.judged_by(case),
    }


@require(Cap.REVIEW_CASES)
def case_page(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    return render(request, "review/case.html", workspace_context(request, case))


def _next_or_empty(request: AuthenticatedRequest, queue: Queue, *, status: int = 200) -> HttpResponse:
    """After a decision or skip: the next case of the same queue, swapped in by htmx without a page load."""
    if queue.kind in selectors.SENIOR_KINDS and not has_cap(request.user, Cap.HANDLE_ESCALATIONS):
        queue = None  # type: ignore[assignment]
    case = services.claim_next_case(actor=request.user, queue=queue) if queue else None
    if not _is_htmx(request):
        return redirect("review:case", pk=case.pk) if case else redirect("review:queues")
    if case is None:
        response = render(request, "review/_queue_empty.html", {"queue": queue}, status=status)
        response["HX-Push-Url"] = reverse("review:queues")
        response["HX-Trigger"] = json.dumps({"docket:title": "Queues"})
        return response
    response = render(request, "review/_workspace.html", workspace_context(request, case), status=status)
    response["HX-Push-Url"] = reverse("review:case", args=[case.pk])
    response["HX-Trigger"] = json.dumps({"docket:title": f"Case {case.pk}"})
    return response


def _refused(request: AuthenticatedRequest, case: Case, message: str, status: int, form: VerdictForm | None = None
             ) -> HttpResponse:
    context = workspace_context(request, case, form=form)
    context["error"] = message
    template = "review/_workspace.html" if _is_htmx(request) else "review/case.html"
    return render(request, template, context, status=status)


@require(Cap.REVIEW_CASES)
@require_POST
def decide(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    form = VerdictForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "The decision is incomplete: see the marked fields.", 400, form)
    try:
        services.record_decision(actor=request.user, case=case, verdict=form.verdict())
    except CaseNotHeld as exc:
        case.refresh_from_db()
        return _refused(request, case, str(exc), 409)
    except InvalidDecision as exc:
        return _refused(request, case, str(exc), 400, form)
    return _next_or_empty(request, case.queue)


@require(Cap.REVIEW_CASES)
@require_POST
def skip(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, "Say why you skip this case.", 400)
    try:
        services.skip_case(actor=request.user, case=case, reason=form.cleaned_data["reason"])
    except CaseNotHeld as exc:
        return _refused(request, case, str(exc), 409)
    return _next_or_empty(request, case.queue)


@require(Cap.REVIEW_CASES)
@require_POST
def release(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    try:
        services.release_case(actor=request.user, case=case, reason=request.POST.get("reason", "")[:500])
    except CaseNotHeld as exc:
        return _refused(request, case, str(exc), 409)
    messages.info(request, f"Case {case.pk} is back in {case.queue.name}.")
    response: HttpResponse = redirect("review:queues")
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("review:queues")
    return response


@require(Cap.REVIEW_CASES)
@require_POST
def renew(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    try:
        services.renew_lease(actor=request.user, case=case)
    except CaseNotHeld:
        return render(request, "review/_lease_lost.html", {"case": case})
    return HttpResponse(status=204)


@require(Cap.HANDLE_ESCALATIONS)
@require_POST
def take_back(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    case = selectors.case_for(request.user, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why you take this case over.")
        return redirect("review:case", pk=case.pk)
    try:
        services.take_back_case(actor=request.user, case=case, reason=form.cleaned_data["reason"])
        messages.success(request, f"You now hold case {case.pk}.")
    except CaseNotHeld as exc:
        messages.error(request, str(exc))
    return redirect("review:case", pk=case.pk)


@require(Cap.HANDLE_ESCALATIONS)
@require_POST
def correct(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    decision = get_object_or_404(Decision.objects.select_related("case"), pk=pk)
    case = selectors.case_for(request.user, decision.case_id)
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        context = workspace_context(request, case)
        context.update(correction_form=form, error="The correction is incomplete: see the marked fields.")
        return render(request, "review/case.html", context, status=400)
    try:
        services.correct_decision(actor=request.user, decision=decision, verdict=form.verdict(),
                                  reason=form.cleaned_data["reason"])
        messages.success(request, "Decision corrected; the account's violations follow it.")
    except InvalidDecision as exc:
        messages.error(request, str(exc))
        return redirect("review:case", pk=case.pk)
    return redirect("review:case", pk=case.pk)


@require(Cap.REVIEW_CASES)
def cases(request: AuthenticatedRequest) -> HttpResponse:
    base = selectors.cases_list(request.user)
    filterset = CaseFilter(request.GET, queryset=base, request=request)
    order = filterset.form.cleaned_data.get("order") if filterset.form.is_valid() else None
    page = keyset_page(filterset.qs, params=request.GET, order=CaseFilter.ORDERS.get(order or "", ("-id",)))
    context = {
        "filter": filterset,
        "page": page,
        "bulk_form": BulkDecisionForm() if has_cap(request.user, Cap.HANDLE_ESCALATIONS) else None,
    }
    return render(request, "review/cases.html", context)


@require(Cap.HANDLE_ESCALATIONS)
@require_POST
def bulk_decide(request: AuthenticatedRequest) -> HttpResponse:
    form = BulkDecisionForm(request.POST)
    back = reverse("review:cases") + ("?" + request.POST["back"] if request.POST.get("back") else "")
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
        messages.error(request, f"Nothing was decided: {problems}")
        return redirect(back)
    result = services.apply_bulk_decision(
        actor=request.user, case_ids=form.cleaned_data["cases"], verdict=form.verdict()
    )
    messages.success(request, f"Decided {len(result.decided)} case(s).")
    if result.skipped:
        details = ", ".join(f"{pk} ({why})" for pk, why in sorted(result.skipped.items())[:20])
        messages.warning(request, f"Left {len(result.skipped)} case(s) alone: {details}")
    return redirect(back)
