"""The hostile corpus (tests/hostile_corpus.py), sent through the API and opened in Chromium on every
console page that shows platform text: nothing runs, nothing escapes its box, hidden characters show."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from playwright.sync_api import Dialog, Page, expect

from accounts.models import ActionKind, Appeal
from accounts.services import apply_action, approve_action, propose_action
from review.models import Case, Flag, Integration, Outcome
from review.services import Verdict, record_decision
from tests.browser import BrowserProblems, NewPage, login
from tests.conftest import PASSWORD
from tests.factories import hold, make_integration, make_key
from tests.hostile_corpus import CORPUS, Hostile, flag_body

pytestmark = pytest.mark.browser
HUGE_PAGE_MS = 60_000

USER = "hostile-user"

# Elements a payload would have had to become to run script, load something or restyle the page.
LIVE = "script, img, svg, iframe, style, link, meta, base, form, textarea, [hx-post], [hx-get], [onload], [onerror]"
TEXT_BOXES = "pre.text, .event-text, .note, td.wrap, .flag-head code, table.signals code"

# Runs in the page: every way the layout could have been broken by a text, as sentences.
LAYOUT_PROBLEMS = """
(selector) => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) problems.push(`the page scrolls sideways: ${doc.scrollWidth}px wide`);
  const body = getComputedStyle(document.body);
  if (body.display === "none" || body.visibility === "hidden") problems.push("the body is hidden");
  const banner = document.querySelector("header");
  if (!banner || banner.getBoundingClientRect().height === 0) problems.push("the banner is gone");
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    const frame = el.closest("article, section, td, li, .panel, main").getBoundingClientRect();
    if (box.right > frame.right + 1 || box.left < frame.left - 1) {
      problems.push(`${el.tagName.toLowerCase()}.${el.className} spills out of its box: ${box.left}-${box.right}` +
                    ` in ${frame.left}-${frame.right}`);
    }
    const style = getComputedStyle(el);
    const scrolls = ["auto", "scroll", "hidden"].includes(style.overflowX);
    if (el.scrollWidth > el.clientWidth + 1 && !scrolls && style.display !== "inline") {
      problems.push(`${el.tagName.toLowerCase()}.${el.className} is wider than its box and does not scroll`);
    }
  }
  for (const el of document.querySelectorAll("body *")) {
    const style = getComputedStyle(el);
    if (style.position === "fixed" && !el.closest("header, dialog, [role=dialog], .toast, #shortcuts")) {
      if (el.getBoundingClientRect().height > window.innerHeight / 2) problems.push("a fixed overlay covers the page");
    }
  }
  return problems;
}
"""


@pytest.fixture
def acme(transactional_db: None, roles: None) -> Integration:
    return make_integration("Acme Chat")


def ingest(acme: Integration) -> dict[str, dict[str, Any]]:
    """Send every corpus entry as a flag through the API; then an appeal, a note and a decision carrying it."""
    client = Client()
    key = make_key(acme).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    results: dict[str, dict[str, Any]] = {}
    for entry in CORPUS:
        response = client.post("/api/v1/flags", json.dumps(flag_body(entry, user=USER)),
                               content_type="application/json", **auth)
        assert response.status_code == 201, (entry.name, response.content[:300])
        [results[entry.name]] = response.json()["results"]
        read = client.get(f"/api/v1/flags/{quote(flag_body(entry, user=USER)['id'], safe='')}", **auth)
        assert read.json()["prompt"] == entry.text, entry.name
    return results


def watch_dialogs(page: Page) -> list[str]:
    opened: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        opened.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def assert_page_safe(page: Page, where: str, dialogs: list[str]) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("() => typeof window.__pwned") == "undefined", (where, page.evaluate("() => window.__pwned"))
    assert page.evaluate("() => typeof parent.__pwned") == "undefined", where
    assert dialogs == [], (where, dialogs)
    live = page.locator(f":is({TEXT_BOXES}) :is({LIVE})")
    assert live.count() == 0, (where, live.first.evaluate("el => el.outerHTML"))
    assert page.locator("a[href^='javascript:' i], base, meta[http-equiv]").count() == 0, where
    assert page.evaluate(LAYOUT_PROBLEMS, TEXT_BOXES) == [], where
    expect(page.get_by_role("banner")).to_be_visible()


def test_hostile_texts_from_the_api_are_inert_and_stay_in_their_boxes_on_every_page(
    new_page: NewPage,
    live_server: Any,
    senior: AbstractBaseUser,
    auditor: AbstractBaseUser,
    acme: Integration,
    browser_problems: BrowserProblems,
) -> None:
    results = ingest(acme)
    account = Flag.objects.get(pk=results["script-tag"]["flag"]).account
    # An action on the account, appealed with hostile words; an escalation with a hostile note.
    action = propose_action(actor=None, account=account, kind=ActionKind.WARN, reason=CORPUS[2].text)
    approve_action(actor=senior, action=action, reason=CORPUS[4].text)
    apply_action(actor=senior, action=action, reason="applied \u202e" + CORPUS[0].text)
    appeal_text = "\n".join(entry.text for entry in CORPUS if not entry.is_huge)[:10_000]
    appealed = Client().post(
        "/api/v1/appeals", json.dumps({"user": USER, "action": action.pk, "text": appeal_text}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {make_key(acme).secret}",
    )
    assert appealed.status_code == 201, appealed.content
    escalated = hold(Case.objects.get(pk=results["sql"]["case"]), senior)
    record_decision(actor=senior, case=escalated, verdict=Verdict(outcome=Outcome.ESCALATED, note=CORPUS[7].text))

    page = new_page("sam")
    dialogs = watch_dialogs(page)
    login(page, live_server.url, "sam", PASSWORD)

    for entry in CORPUS:
        # A megabyte on one line takes Chromium seconds to lay out on a busy two-core machine.
        page.goto(f"/cases/{results[entry.name]['case']}/", timeout=HUGE_PAGE_MS if entry.is_huge else None)
        evidence = page.locator("section.evidence")
        expect(evidence).to_be_visible()
        page.get_by_text("Metadata", exact=True).first.click()  # open the <details> so its text lays out too
        assert_page_safe(page, entry.name, dialogs)
        check_shown_text(page, entry)

    others = {
        "case list": "/cases/",
        "queues": "/queues/",
        "dashboard": "/",
        "account": f"/accounts/{account.pk}/",
        "accounts": "/accounts/",
        "actions": "/actions/",
        "action and its appeal": f"/actions/{action.pk}/",
        "appeal case": f"/cases/{Appeal.objects.get(pk=appealed.json()['appeal']).case_id}/",
    }
    for where, url in others.items():
        page.goto(url)
        assert_page_safe(page, where, dialogs)
    page.goto(f"/accounts/{account.pk}/")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("\u27e6U+202E RLO\u27e7")
    expect(timeline).to_contain_text("<script>window.__pwned='script-tag'</script>")
    page.goto(f"/actions/{action.pk}/")
    expect(page.locator("body")).to_contain_text("<img src=x onerror=")

    ada = new_page("ada")  # the audit log is the auditor's
    ada_dialogs = watch_dialogs(ada)
    login(ada, live_server.url, "ada", PASSWORD)
    ada.goto("/audit/")
    assert_page_safe(ada, "audit log", ada_dialogs)
    expect(ada.locator("table.dense")).to_contain_text("\u27e6U+202E RLO\u27e7")
    browser_problems.assert_none()


def check_shown_text(page: Page, entry: Hostile) -> None:
    prompt = page.locator("section.evidence pre.text").first
    warning = page.locator("section.evidence .hidden-warning")
    if entry.is_huge:
        shown = prompt.evaluate("el => el.textContent.length")
        assert shown == len(entry.text)
        box = prompt.bounding_box()
        assert box is not None and box["height"] < 500  # a scrolling box, not a page a mile long
        return
    if entry.hidden_in_metadata:
        expect(warning).to_be_visible()
        expect(page.locator("section.evidence details pre.text .hidden-char").first).to_be_visible()
    elif entry.hidden:
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("This flag hides")
        if entry.mixed_script:
            expect(prompt.locator(".mixed-script").first).to_be_visible()
        else:
            marker = prompt.locator(".hidden-char").first
            expect(marker).to_be_visible()
            assert marker.bounding_box()["width"] > 10  # type: ignore[index]  # a marker a person can see
    else:
        expect(warning).to_have_count(0)
        assert prompt.inner_text() == entry.text, entry.name
