"""Staff pages for end-user accounts, their actions and appeals.

Seniors and ops read accounts; seniors propose, approve, apply and lift
actions and decide appeals. Every write is one service call; a refusal
(IllegalTransition) is shown as the service's own sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.filters import AccountFilter, ActionFilter
from accounts.forms import AppealDecisionForm, NoteForm, ProposeForm, StepForm
from accounts.models import Account, Action, ActionKind, ActionState, AppealState
from accounts.services import IllegalTransition
from console.access import AuthenticatedRequest, has_cap, require
from console.pagination import keyset_page
from console.roles import Cap

STEP_SERVICES: dict[str, Callable[..., Action]] = {
    "approve": services.approve_action,
    "reject": services.reject_action,
    "apply": services.apply_action,
    "lift": services.lift_action,
}


@require(Cap.VIEW_ACCOUNTS)
def accounts(request: AuthenticatedRequest) -> HttpResponse:
    filterset = AccountFilter(request.GET, queryset=selectors.accounts_list())
    sort = filterset.chosen_sort()
    page = keyset_page(sort.apply(filterset.qs), params=request.GET, order=sort.order)
    return render(request, "accounts/accounts.html", {"filter": filterset, "page": page, "sort": sort})


def _account_context(
    request: AuthenticatedRequest,
    account: Account,
    *,
    note_form: NoteForm | None = None,
    propose_form: ProposeForm | None = None,
) -> dict[str, Any]:
    can_act = has_cap(request.user, Cap.APPROVE_ACTIONS)
    actions = selectors.account_actions(account)
    days = selectors.daily_activity(account)
    reported = any(d.requests is not None for d in days)
    return {
        "account": account,
        "windows": selectors.windows(account),
        "categories": selectors.violations_by_category(account),
        "days": days,
        "activity_chart": selectors.bar_chart(
            days,
            [("flags", "flags", "Flags"), ("violations", "violations", "Violations")],
            label=f"Flags and confirmed violations per day, last {len(days)} days",
        ),
        "usage_chart": selectors.bar_chart(
            days, [("requests", "requests", "Requests")], label=f"Requests per day, last {len(days)} days"
        )
        if reported
        else None,
        "actions": actions,
        "timeline": selectors.timeline(account, actions, user=request.user),
        "timeline_limit": selectors.TIMELINE_LIMIT,
        "note_form": note_form or NoteForm(),
        "can_act": can_act,
        "propose_form": (propose_form or ProposeForm(evidence=selectors.evidence_choices(account)))
        if can_act
        else None,
    }


@require(Cap.VIEW_ACCOUNTS)
def account(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = selectors.account_for(pk)
    return render(request, "accounts/account.html", _account_context(request, obj))


@require(Cap.VIEW_ACCOUNTS)
@require_POST
def account_note(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = selectors.account_for(pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/account.html", _account_context(request, obj, note_form=form), status=400)
    services.add_note(actor=request.user, account=obj, text=form.cleaned_data["text"])
    messages.success(request, "Note added.")
    return redirect("accounts:account", pk=obj.pk)


@require(Cap.APPROVE_ACTIONS)
@require_POST
def account_propose(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = selectors.account_for(pk)
    form = ProposeForm(request.POST, evidence=selectors.evidence_choices(obj))
    if not form.is_valid():
        context = _account_context(request, obj, propose_form=form)
        return render(request, "accounts/account.html", context, status=400)
    try:
        action = services.propose_action(actor=request.user, account=obj, **form.proposal())
    except IllegalTransition as exc:
        context = _account_context(request, obj, propose_form=form)
        context["propose_error"] = str(exc)
        return render(request, "accounts/account.html", context, status=400)
    messages.success(request, f"{action.get_kind_display()} proposed: another step by a senior applies it.")
    return redirect("accounts:action", pk=action.pk)


@require(Cap.APPROVE_ACTIONS)
def actions(request: AuthenticatedRequest) -> HttpResponse:
    filterset = ActionFilter(request.GET, queryset=selectors.actions_list())
    page = keyset_page(filterset.qs, params=request.GET, order=selectors.ACTIONS_ORDER)
    return render(request, "accounts/actions.html", {"filter": filterset, "page": page})


@require(Cap.APPROVE_ACTIONS)
def action(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = selectors.action_for(pk)
    approvals = list(obj.approvals.order_by("username"))
    context = {
        "action": obj,
        "evidence": selectors.action_evidence(obj),
        "approvals": approvals,
        "four_eyes": ActionKind(obj.kind).needs_four_eyes,
        "i_proposed": obj.proposed_by_id == request.user.pk,
        "i_approved": request.user in approvals,
        "history": selectors.action_history(obj),
        "appeals": selectors.action_appeals(obj),
        "steps": [(step, dict(StepForm.STEPS)[step]) for step in selectors.next_steps(obj)],
    }
    return render(request, "accounts/action.html", context)


@require(Cap.APPROVE_ACTIONS)
@require_POST
def action_step(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    obj = selectors.action_for(pk)
    form = StepForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was done: choose a step and say why.")
        return redirect("accounts:action", pk=obj.pk)
    step = form.cleaned_data["step"]
    try:
        done = STEP_SERVICES[step](actor=request.user, action=obj, reason=form.cleaned_data["reason"])
    except IllegalTransition as exc:
        messages.error(request, str(exc))
        return redirect("accounts:action", pk=obj.pk)
    if step == "approve" and done.state == ActionState.PROPOSED:
        messages.success(request, "Your approval is recorded; a second, different senior must approve too.")
    else:
        messages.success(request, f"Action {obj.pk} is now {done.get_state_display().lower()}.")
    return redirect("accounts:action", pk=obj.pk)


@require(Cap.APPROVE_ACTIONS)
@require_POST
def appeal_decide(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    appeal = selectors.appeal_for(pk)
    back = (
        redirect("review:case", pk=appeal.case_id)
        if appeal.case_id
        else redirect("accounts:action", pk=appeal.action_id)
    )
    form = AppealDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Nothing was decided: choose uphold or reverse and say why.")
        return back
    try:
        decided = services.decide_appeal(
            actor=request.user, appeal=appeal, reverse=form.cleaned_data["outcome"], reason=form.cleaned_data["reason"]
        )
    except IllegalTransition as exc:
        messages.error(request, str(exc))
        return back
    if decided.state == AppealState.REVERSED:
        messages.success(request, f"Appeal decided: action {appeal.action_id} is reversed and the platform told.")
    else:
        messages.success(request, f"Appeal decided: action {appeal.action_id} stays in force.")
    return back
