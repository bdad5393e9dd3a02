"""The hostile corpus through the API and the console's HTML, without a browser (the browser test is
tests/review/test_browser_hostile.py): kept byte for byte, read back unchanged, shown escaped."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from review.intake import MAX_DEPTH
from review.models import Flag
from tests.factories import Api
from tests.hostile_corpus import CORPUS, Hostile, flag_body, nested

pytestmark = pytest.mark.django_db

# The only tags the console itself puts inside untrusted text: the markers of hidden characters and
# mixed-script words (console/hidden_text.py). Any other "<" inside text would be the payload's own markup.
OWN_TAGS = re.compile(r'<span class="(hidden-char|mixed-script)" title="[^"<>]*">|</span>')


def live_markup(html: str) -> str | None:
    """The first piece of markup in `html` that the console did not write itself, if any."""
    rest = OWN_TAGS.sub("", html)
    at = rest.find("<")
    return None if at == -1 else rest[at : at + 60]


def post(api: Api, entry: Hostile, user: str = "u-hostile") -> dict[str, Any]:
    response = api.post("flags", flag_body(entry, user=user))
    assert response.status_code == 201, (entry.name, response.content[:500])
    [result] = response.json()["results"]
    assert result["queued"], entry.name
    return result


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e.name)
def test_each_hostile_text_is_kept_and_read_back_exactly(api: Api, entry: Hostile) -> None:
    sent = flag_body(entry, user="u-1")
    post(api, entry, user="u-1")

    read = api.client.get(f"/api/v1/flags/{quote(sent['id'], safe='')}", HTTP_AUTHORIZATION=f"Bearer {api.secret}")

    assert read.status_code == 200, read.content[:300]
    body = read.json()
    assert (body["id"], body["prompt"], body["response"], body["metadata"]) == (
        sent["id"],
        sent["prompt"],
        sent["response"],
        sent["metadata"],
    )


def test_metadata_one_level_deeper_than_allowed_is_refused_naming_the_field(api: Api) -> None:
    too_deep = {**flag_body(CORPUS[0], user="u-2"), "metadata": nested(MAX_DEPTH + 1, "x")}

    response = api.post("flags", too_deep)

    assert response.status_code == 422
    assert response.json()["results"][0]["errors"] == [
        {"field": "metadata", "message": f"is nested deeper than {MAX_DEPTH} levels"}
    ]
    assert Flag.objects.count() == 0


def _text_html(page: str) -> list[str]:
    """The inside of every element the console puts untrusted text in."""
    return re.findall(r'<pre class="text">(.*?)</pre>|<code>(.*?)</code>', page, re.DOTALL)


@pytest.mark.parametrize("entry", CORPUS, ids=lambda e: e.name)
def test_the_case_page_shows_each_hostile_text_as_escaped_text(
    api: Api, client: Client, reviewer: Any, entry: Hostile
) -> None:
    result = post(api, entry)
    client.force_login(reviewer)

    page = client.get(f"/cases/{result['case']}/").content.decode()

    shown = ["".join(parts) for parts in _text_html(page)]
    assert len(shown) >= 3, "prompt, response and metadata should all be on the page"
    for html in shown:
        assert live_markup(html) is None, (entry.name, live_markup(html))
    if "<" in entry.text:
        assert "&lt;" in shown[0]
    has_badge = "Hidden characters</span>" in page
    assert has_badge == (entry.hidden or entry.hidden_in_metadata), entry.name
    if entry.hidden and not entry.mixed_script:
        assert "\u27e6" in shown[0]  # ⟦…⟧ markers stand in for the hidden characters
    if entry.mixed_script:
        assert '<span class="mixed-script" title="mixes Cyrillic and Latin letters">' in shown[0]


def test_template_syntax_in_a_prompt_is_shown_literally_and_never_evaluated(
    api: Api, client: Client, reviewer: Any
) -> None:
    entry = next(e for e in CORPUS if e.name == "template-syntax")
    result = post(api, entry)
    client.force_login(reviewer)

    page = client.get(f"/cases/{result['case']}/").content.decode()

    assert "{{ request.user.password }} {% csrf_token %} {% debug %}" in page
    assert "${7*7} #{7*7} &lt;%= 7*7 %&gt;" in page


def test_the_account_page_timeline_shows_excerpts_escaped(api: Api, client: Client, senior: Any) -> None:
    results = [post(api, entry, user="u-timeline") for entry in CORPUS if not entry.is_huge]
    client.force_login(senior)
    account = Flag.objects.get(pk=results[0]["flag"]).account_id

    page = client.get(f"/accounts/{account}/").content.decode()

    events = re.findall(r'<div class="event-text">(.*?)</div>', page, re.DOTALL)
    titles = re.findall(r'<strong class="wrap">(.*?)</strong>', page, re.DOTALL)
    assert events and titles
    for html in events + titles:
        assert live_markup(html) is None, live_markup(html)
    assert "\u27e6U+202E RLO\u27e7" in page


def test_an_appeal_with_hostile_text_is_shown_escaped_on_the_action_page(
    api: Api, client: Client, senior: Any
) -> None:
    from accounts.models import ActionKind
    from accounts.services import apply_action, approve_action, propose_action

    result = post(api, CORPUS[0], user="u-appeal")
    account = Flag.objects.get(pk=result["flag"]).account
    action = propose_action(actor=None, account=account, kind=ActionKind.WARN, reason="<b>abuse</b>\u202e")
    approve_action(actor=senior, action=action, reason="ok")
    apply_action(actor=senior, action=action, reason="go")
    text = "\n".join(e.text for e in CORPUS if not e.is_huge)[:10_000]

    appealed = api.post("appeals", {"user": "u-appeal", "action": action.pk, "text": text})
    client.force_login(senior)
    page = client.get(f"/actions/{action.pk}/").content.decode()

    assert appealed.status_code == 201, appealed.content
    events = re.findall(r'<div class="event-text">(.*?)</div>', page, re.DOTALL)
    assert any("&lt;script&gt;window.__pwned=" in html for html in events)
    for html in events:
        assert live_markup(html) is None, live_markup(html)
    assert "&lt;b&gt;abuse&lt;/b&gt;" in page and "\u27e6U+202E RLO\u27e7" in page


def test_the_audit_log_shows_hostile_reasons_escaped(api: Api, client: Client, senior: Any, auditor: Any) -> None:
    from review.models import Case, Outcome
    from review.services import Verdict, record_decision
    from tests.factories import hold

    result = post(api, CORPUS[0], user="u-audit")
    case = hold(Case.objects.get(pk=result["case"]), senior)
    note = CORPUS[2].text + "\u202e"
    record_decision(actor=senior, case=case, verdict=Verdict(outcome=Outcome.ESCALATED, note=note))
    client.force_login(auditor)

    page = client.get("/audit/").content.decode()

    reasons = [html for html in re.findall(r'<td class="wrap">(.*?)</td>', page, re.DOTALL) if "pwned" in html]
    assert reasons and all(live_markup(html) is None for html in reasons), reasons
    assert "&lt;img src=x onerror=" in reasons[0] and "\u27e6U+202E RLO\u27e7" in reasons[0]
    assert "<img" not in page


def test_the_corpus_is_what_the_brief_lists() -> None:
    names = {e.name for e in CORPUS}
    assert {
        "script-tag", "img-onerror", "javascript-link", "textarea-breakout", "svg-onload", "style-tag", "css-overlay",
        "bidi-override", "bidi-isolates", "zero-width", "homoglyphs", "megabyte-line", "nested-metadata", "sql",
        "template-syntax",
    } <= names
    megabyte = next(e for e in CORPUS if e.name == "megabyte-line")
    assert len(megabyte.text) == 1_048_576 and "\n" not in megabyte.text
    assert json.dumps(next(e for e in CORPUS if e.name == "nested-metadata").metadata).count("{") == MAX_DEPTH
