"""Playwright support for the browser tests, registered by tests/conftest.py.

A browser test is marked `@pytest.mark.browser` and asks for `new_page` (or
`page`), which brings pytest-django's `live_server` and so a transactional
database: the server thread must see the users the test creates.

    @pytest.mark.browser
    def test_two_reviewers(new_page, live_server, reviewer, senior, browser_problems):
        rita, sam = new_page("rita"), new_page("sam")   # one browser context each
        login(rita, live_server.url, "rita", PASSWORD)
        login(sam, live_server.url, "sam", PASSWORD)
        ...
        browser_problems.assert_none()

While Playwright's sync API is running it leaves its event loop marked as
running in the test thread: Django's ORM then needs DJANGO_ALLOW_ASYNC_UNSAFE
(set in pyproject.toml), and `asyncio.run()` or `async_to_sync()` would fail
there. So the one Chromium is shared by the session and the browser tests run
last, after every test that might need a clean thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.conftest import CHROMIUM

# Without the networking flags Chromium keeps calling Google's services, which
# this machine's closed network refuses, many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Pages are served from localhost: anything slower than this is a hang, and
# Playwright's 30 s default only makes a broken run slower to report.
TIMEOUT_MS = 10_000

NewPage = Callable[..., Page]

_CSP_BINDING = "__docketReportCspViolation"
# Runs before the page's own scripts, through the DevTools protocol, so the
# page's CSP does not apply to it.
_CSP_LISTENER = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  window.{_CSP_BINDING}({{
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  }});
}}, true);
"""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # After pytest-django's own ordering (it runs tryfirst); sort() is stable.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@dataclass(frozen=True)
class Problem:
    kind: Literal["console", "pageerror", "csp"]
    page: str
    text: str

    def __str__(self) -> str:
        return f"[{self.page}] {self.kind}: {self.text}"


@dataclass
class BrowserProblems:
    """Console errors, uncaught page errors and CSP violations of watched pages.

    A CSP violation usually shows twice: as the `securitypolicyviolation` event
    and as Chromium's console message about it; both are kept, as "csp".
    """

    items: list[Problem] = field(default_factory=list)
    _pages: list[Page] = field(default_factory=list, repr=False)

    def watch(self, page: Page, label: str) -> Page:
        page.on("console", lambda message: self._console(label, message))
        page.on("pageerror", lambda error: self._add("pageerror", label, f"{error.name}: {error.message}"))
        page.expose_function(_CSP_BINDING, lambda info: self._add("csp", label, _describe_violation(info)))
        page.add_init_script(_CSP_LISTENER)
        self._pages.append(page)
        return page

    def settle(self) -> None:
        """Take in what the watched pages have reported so far.

        Playwright hands events over only while a call is under way: one
        round trip per open page delivers everything sent before it.
        """
        for page in self._pages:
            if not page.is_closed():
                with suppress(PlaywrightError):  # closed or navigating away meanwhile
                    page.evaluate("() => 0")

    @property
    def csp_violations(self) -> list[Problem]:
        self.settle()
        return [p for p in self.items if p.kind == "csp"]

    def assert_none(self) -> None:
        self.settle()
        assert not self.items, "the browser reported problems:\n" + "\n".join(map(str, self.items))

    def _console(self, label: str, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text:
            self._add("csp", label, text)
        elif message.type == "error":
            url = message.location.get("url") if message.location else ""
            if urlsplit(url).path == "/favicon.ico":
                # Chromium asks for it on its own when a page names no icon; the
                # page did nothing wrong. An icon the page does name still counts.
                return
            self._add("console", label, f"{text} ({url})" if url else text)

    def _add(self, kind: Literal["console", "pageerror", "csp"], label: str, text: str) -> None:
        self.items.append(Problem(kind, label, text))


def _describe_violation(info: dict[str, Any]) -> str:
    where = f"{info.get('source') or 'inline'}:{info.get('line')}"
    return f"{info.get('directive')} blocked {info.get('blocked') or '?'} at {where} {info.get('sample') or ''}".strip()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """The system Chromium, headless, launched once per test session (per xdist worker)."""
    with sync_playwright() as playwright:
        # CHROMIUM is None only where conftest has already skipped (or failed) the test.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_problems() -> BrowserProblems:
    """What went wrong in the pages `new_page` opened during this test."""
    return BrowserProblems()


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, browser: Browser, live_server: Any, browser_problems: BrowserProblems
) -> Iterator[NewPage]:
    """Open a page in a browser context of its own: a separate person, cookies included.

    `new_page(label=None, **context_options)`; relative URLs resolve against
    the live server (`page.goto("/login/")`), and every page is watched by
    `browser_problems` under its label.
    """
    if request.node.get_closest_marker("browser") is None:
        pytest.fail("a test that drives the browser must be marked @pytest.mark.browser", pytrace=False)
    contexts: list[BrowserContext] = []

    def make(label: str | None = None, **context_options: Any) -> Page:
        options: dict[str, Any] = {
            "base_url": live_server.url,
            "viewport": {"width": 1280, "height": 800},
            "locale": "en-GB",
            "timezone_id": "UTC",
            "service_workers": "block",
        }
        context = browser.new_context(**(options | context_options))
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return browser_problems.watch(context.new_page(), label or f"page{len(contexts)}")

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """One page in its own context, for a test with one person in it."""
    return new_page()


def login(page: Page, live_server_url: Any, username: str, password: str) -> None:
    """Sign in through the console's form and wait until the dashboard has loaded.

    Someone with an authenticator app (every persona in a role that needs
    two-factor sign-in) gets the code step: the code is worked out from
    their stored secret and typed in. Fails with the form's own error if
    the console turns the sign-in down.
    """
    from tests.twofactor import next_code

    base = str(live_server_url).rstrip("/")
    login_url = base + resolve_url(settings.LOGIN_URL)
    code_url = base + resolve_url("console:login_code")
    dashboard_url = base + resolve_url(settings.LOGIN_REDIRECT_URL)
    page.goto(login_url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()
    if page.url == code_url:
        page.get_by_label("Authentication code").fill(next_code(username))
        with page.expect_navigation(wait_until="load"):
            page.get_by_role("button", name="Verify").click()
    if page.url != dashboard_url:
        alert = page.get_by_role("alert")
        said = alert.inner_text() if alert.count() else "no error shown"
        raise AssertionError(f"signing in as {username!r} led to {page.url}, not the dashboard: {said}")
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
