"""The reviewer's loop in a real browser (the system Chromium): queues, the case
page and its keyboard shortcuts, escalation to a senior, claims by two people at
once, hostile text, and the case list's bulk decision."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from playwright.sync_api import Dialog, Page, expect

from accounts.models import Violation
from console.models import AuditEntry, AuditVerb
from console.roles import Role
from review.models import Case, CaseStatus, Decision, Integration, Outcome
from tests.browser import BrowserProblems, NewPage, login
from tests.conftest import PASSWORD
from tests.factories import make_case, make_decision, make_integration

pytestmark = pytest.mark.browser

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    '<a href="javascript:window.__pwned=3">click</a>',
    "</textarea><script>window.__pwned=4</script>",
    '<svg onload="window.__pwned=5">',
    "<style>body{display:none}</style>",
]


@pytest.fixture
def acme(transactional_db: None, roles: None) -> Integration:
    return make_integration("Acme Chat")


def signal(category: str, level: str) -> dict[str, Any]:
    return {"signals": [{"category": category, "level": level}]}


def workspace_case(page: Page) -> int:
    return int(page.locator("#workspace").get_attribute("data-case") or 0)


def open_nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()
    expect(page.get_by_role("heading", name=label, level=1)).to_be_visible()


def start_reviewing(page: Page, queue: str) -> int:
    """Press "Start reviewing" on the Queues page and return the case the page then shows."""
    open_nav(page, "Queues")
    row = page.get_by_role("row").filter(has=page.locator("strong", has_text=re.compile(f"^{re.escape(queue)}$")))
    row.get_by_role("button", name="Start reviewing").click()
    expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
    page.wait_for_load_state()  # docket.js (deferred) listens for the keys from here on
    return workspace_case(page)


def audit_verbs(case: Case) -> list[str]:
    entries = AuditEntry.objects.filter(target_type="review.case", target_id=str(case.pk)).order_by("seq")
    return list(entries.values_list("verb", flat=True))


def test_a_reviewer_decides_by_keyboard_and_the_next_case_arrives_without_a_page_load(
    page: Page, live_server: Any, reviewer: AbstractBaseUser, acme: Integration, browser_problems: BrowserProblems
) -> None:
    sensitive = make_case(acme, user="user-a", prompt="sensitive prompt", result=signal("sexual", "high"))
    plain = make_case(acme, user="user-b", prompt="plain prompt", result=signal("harassment", "medium"))
    # Both in General, the sensitive one first (priority 130 against 120).
    assert [sensitive.queue.slug, plain.queue.slug] == ["general", "general"]
    assert sensitive.priority > plain.priority
    login(page, live_server.url, "rita", PASSWORD)

    assert start_reviewing(page, "General") == sensitive.pk

    evidence = page.locator("section.evidence")
    text = evidence.locator("pre.text").first
    expect(evidence).to_have_class(re.compile(r"\bblurred\b"))
    expect(evidence).to_contain_text("Sensitive: Sexual content")
    assert "blur" in text.evaluate("el => getComputedStyle(el).filter")
    page.keyboard.press("r")
    expect(evidence).not_to_have_class(re.compile(r"\bblurred\b"))
    assert text.evaluate("el => getComputedStyle(el).filter") == "none"

    page.keyboard.press("3")
    expect(page.get_by_role("radio", name="High")).to_be_checked()
    page.evaluate("() => { window.__marker = 'same document' }")
    page.keyboard.press("v")

    # htmx swapped the next case in and pushed its URL: no page load happened.
    expect(page.locator("#workspace")).to_have_attribute("data-case", str(plain.pk))
    expect(page).to_have_url(f"{live_server.url}/cases/{plain.pk}/")
    expect(page).to_have_title(f"Case {plain.pk} · Docket")
    assert page.evaluate("() => window.__marker") == "same document"
    decided = Decision.objects.get(case=sensitive)
    assert (decided.outcome, decided.category_id, decided.severity, decided.reviewer) == (
        Outcome.VIOLATING,
        "sexual",
        "high",
        reviewer,
    )
    expect(page.locator("section.evidence")).not_to_have_class(re.compile(r"\bblurred\b"))  # not sensitive

    page.keyboard.press("e")
    note = page.get_by_role("textbox", name="Escalation reason")
    expect(note).to_be_focused()
    page.keyboard.type("Reads like a quote from a novel; not sure.")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="General is empty")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/queues/")
    assert page.evaluate("() => window.__marker") == "same document"
    escalation = Decision.objects.get(case=plain)
    assert (escalation.outcome, escalation.note) == (Outcome.ESCALATED, "Reads like a quote from a novel; not sure.")
    plain.refresh_from_db()
    assert (plain.queue.slug, plain.status, plain.claimed_by) == ("escalations", CaseStatus.OPEN, None)
    assert audit_verbs(plain)[-1] == AuditVerb.CASE_ESCALATED
    browser_problems.assert_none()


def test_a_senior_takes_an_escalation_reads_the_note_and_resolves_it_as_violating(
    new_page: NewPage,
    live_server: Any,
    reviewer: AbstractBaseUser,
    senior: AbstractBaseUser,
    acme: Integration,
    browser_problems: BrowserProblems,
) -> None:
    case = make_case(acme, user="user-e", prompt="borderline prompt", result=signal("hate", "high"))
    make_decision(case, reviewer, outcome=Outcome.ESCALATED, note="Slur or reclaimed use? Need a second opinion.")
    sam = new_page("sam")
    login(sam, live_server.url, "sam", PASSWORD)

    open_nav(sam, "Queues")
    escalations = sam.get_by_role("row").filter(has=sam.locator("strong", has_text=re.compile("^Escalations$")))
    expect(escalations.locator("td.num").first).to_have_text("1")  # waiting
    assert start_reviewing(sam, "Escalations") == case.pk

    decisions = sam.locator("section.panel").filter(has=sam.get_by_role("heading", name="Decisions"))
    expect(decisions).to_contain_text("Escalated")
    expect(decisions).to_contain_text("by rita")
    expect(decisions).to_contain_text("Slur or reclaimed use? Need a second opinion.")
    sam.keyboard.press("4")
    expect(sam.get_by_role("radio", name="Critical")).to_be_checked()
    sam.keyboard.press("v")

    expect(sam.get_by_role("heading", name="Escalations is empty")).to_be_visible()
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.closed_at is not None
    violation = Violation.objects.get(case=case)
    assert (violation.account_id, violation.category_id, violation.severity) == (case.account_id, "hate", "critical")
    assert violation.decision.reviewer == senior
    verbs = audit_verbs(case)
    assert [v for v in verbs if v in {AuditVerb.CASE_ESCALATED, AuditVerb.CASE_DECIDED}] == [
        AuditVerb.CASE_ESCALATED,
        AuditVerb.CASE_DECIDED,
    ], verbs
    browser_problems.assert_none()


def test_two_reviewers_starting_the_same_queue_never_get_the_same_case(
    new_page: NewPage,
    live_server: Any,
    reviewer: AbstractBaseUser,
    make_staff: Callable[..., AbstractBaseUser],
    acme: Integration,
    browser_problems: BrowserProblems,
) -> None:
    make_staff(Role.REVIEWER, "rob")
    cases = {make_case(acme, user=f"user-{i}", prompt=f"prompt {i}").pk for i in range(2)}
    rita, rob = new_page("rita"), new_page("rob")
    login(rita, live_server.url, "rita", PASSWORD)
    login(rob, live_server.url, "rob", PASSWORD)

    ritas, robs = start_reviewing(rita, "General"), start_reviewing(rob, "General")

    assert ritas != robs and {ritas, robs} == cases
    # Pressing again (a reload, a second tab) gives back the case she holds, not another one.
    open_nav(rita, "Queues")
    expect(rita.get_by_role("link", name=f"Resume case {ritas}")).to_be_visible()
    assert start_reviewing(rita, "General") == ritas
    claims = AuditEntry.objects.filter(verb=AuditVerb.CASE_CLAIMED).values_list("actor_label", "target_id")
    assert sorted(claims) == sorted([("rita", str(ritas)), ("rob", str(robs))])
    held = dict(Case.objects.values_list("pk", "claimed_by__username"))
    assert held == {ritas: "rita", robs: "rob"}
    browser_problems.assert_none()


def test_question_mark_opens_the_shortcut_help_and_escape_closes_it(
    page: Page, live_server: Any, reviewer: AbstractBaseUser, acme: Integration, browser_problems: BrowserProblems
) -> None:
    make_case(acme)
    login(page, live_server.url, "rita", PASSWORD)
    start_reviewing(page, "General")
    help_ = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_).to_be_hidden()

    page.keyboard.press("?")

    expect(help_).to_be_visible()
    keys = help_.locator("tr td:first-child").all_inner_texts()
    assert keys == ["V", "N", "E", "S", "1\N{EN DASH}4", "C", "R", "X", "?", "Esc"]
    expect(help_).to_contain_text("Escalate: type the reason, then Enter")
    page.keyboard.press("Escape")
    expect(help_).to_be_hidden()
    browser_problems.assert_none()


def test_hostile_prompts_and_responses_are_shown_as_text_and_nothing_runs(
    page: Page, live_server: Any, reviewer: AbstractBaseUser, acme: Integration, browser_problems: BrowserProblems
) -> None:
    cases = [
        make_case(acme, user=f"user-{i}", prompt=markup, response=f"Sure! {markup}", metadata={"note": markup})
        for i, markup in enumerate(HOSTILE)
    ]
    login(page, live_server.url, "rita", PASSWORD)

    for case, markup in zip(cases, HOSTILE, strict=True):
        page.goto(f"/cases/{case.pk}/")
        workspace = page.locator(f"#workspace[data-case='{case.pk}']")
        expect(workspace).to_be_visible()
        page.get_by_text("Metadata", exact=True).click()  # open the <details> so its text renders too
        texts = workspace.locator("pre.text").all_inner_texts()
        assert texts[:2] == [markup, f"Sure! {markup}"], case.pk
        assert json.dumps(markup) in texts[2], case.pk  # metadata is shown as the JSON it came as
        # Nothing the markup names became an element: no script, image, SVG, style or link.
        assert workspace.locator("section.evidence").locator("script, img, svg, style, a").count() == 0
        if "javascript:" in markup:
            workspace.locator("pre.text", has_text="click").first.click()
        assert page.evaluate("() => typeof window.__pwned") == "undefined", markup
        expect(page.locator("body")).to_be_visible()
        expect(page.get_by_role("banner")).to_be_visible()
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert browser_problems.csp_violations == []
    browser_problems.assert_none()


def test_a_senior_applies_not_violating_to_two_selected_cases(
    page: Page, live_server: Any, senior: AbstractBaseUser, acme: Integration, browser_problems: BrowserProblems
) -> None:
    first, second, untouched = (make_case(acme, user=f"user-{i}", prompt=f"spam {i}") for i in range(3))
    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    login(page, live_server.url, "sam", PASSWORD)
    open_nav(page, "Cases")

    page.get_by_role("checkbox", name=f"Select case {first.pk}").check()
    page.get_by_role("checkbox", name=f"Select case {second.pk}").check()
    bulk = page.locator("fieldset.bulk")
    bulk.get_by_label("Outcome").select_option("not_violating")
    bulk.get_by_role("textbox", name="Note").fill("spam wave")
    bulk.get_by_role("button", name="Apply to selected").click()

    expect(page.get_by_role("status")).to_contain_text("Decided 2 case(s).")
    assert len(questions) == 1 and "2 case(s)" in questions[0], questions
    decisions = Decision.objects.filter(bulk=True).order_by("case_id")
    assert [(d.case_id, d.outcome, d.note, d.reviewer) for d in decisions] == [
        (first.pk, Outcome.NOT_VIOLATING, "spam wave", senior),
        (second.pk, Outcome.NOT_VIOLATING, "spam wave", senior),
    ]
    entries = AuditEntry.objects.filter(verb=AuditVerb.CASE_DECIDED).order_by("seq")
    assert [(e.target_id, e.actor_label, e.after["bulk"]) for e in entries] == [
        (str(first.pk), "sam", True),
        (str(second.pk), "sam", True),
    ]
    statuses = dict(Case.objects.values_list("pk", "status"))
    assert statuses == {first.pk: CaseStatus.CLOSED, second.pk: CaseStatus.CLOSED, untouched.pk: CaseStatus.OPEN}
    browser_problems.assert_none()
