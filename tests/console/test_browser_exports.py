"""A large export in a real browser: started from the Exports page, its progress bar moving, the file downloaded.

The request only records the task (Django's DummyBackend); the test plays the
worker in a thread, running the product's `run_export` with a progress step of
four rows. After each saved step the worker waits for the test, which first
sees the bar (polled by htmx every second) show that many rows. No sleeps: the
waits are Playwright's own until the page shows what is expected.
"""

from __future__ import annotations

import csv
import queue
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from accounts.models import Violation
from console.models import AuditEntry, AuditVerb, Export, ExportState
from console.reports import services as reports
from review.models import Integration
from tests.browser import BrowserProblems, login
from tests.conftest import PASSWORD
from tests.factories import make_integration, make_violation

pytestmark = pytest.mark.browser

ROWS = 12
STEP = 4


@pytest.fixture
def acme(transactional_db: None, roles: None) -> Integration:
    return make_integration("Acme Chat")


class SteppedWorker:
    """Runs one export in a thread, pausing after each progress step until the test lets it go on."""

    def __init__(self, export_id: int) -> None:
        self.reached: queue.Queue[int] = queue.Queue()
        self.go_on: queue.Queue[bool] = queue.Queue()
        self.failure: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(export_id,), daemon=True)

    def _run(self, export_id: int) -> None:
        try:
            reports.run_export(export_id=export_id, progress_every=STEP, on_progress=self._pause)
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure.append(exc)
        finally:
            connection.close()

    def _pause(self, rows_done: int) -> None:
        self.reached.put(rows_done)
        self.go_on.get(timeout=30)

    def step(self) -> int:
        return self.reached.get(timeout=30)


def test_a_large_export_shows_its_progress_and_downloads_the_rows_of_the_database(
    page: Page, live_server: Any, ops: Any, reviewer: Any, acme: Integration, settings: Any, tmp_path: Path,
    browser_problems: BrowserProblems,
) -> None:
    settings.DOCKET_EXPORT_STREAM_MAX_ROWS = 5
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    made = [make_violation(acme, reviewer, user=f"user-{n}", category=("hate", "sexual")[n % 2]) for n in range(ROWS)]
    login(page, live_server.url, "otto", PASSWORD)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exports", exact=True).click()
    expect(page.get_by_role("heading", name="Exports", level=1)).to_be_visible()
    page.locator("#id_format").select_option("csv")
    page.get_by_role("button", name="Export", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("more than 5 rows")
    export = Export.objects.get()
    assert export.state == ExportState.PENDING
    row = page.locator(f"#export-{export.pk}")
    expect(row).to_contain_text("Waiting for a worker")
    bar = page.get_by_role("progressbar", name=f"Export #{export.pk} progress")

    worker = SteppedWorker(export.pk)
    worker.thread.start()
    seen = []
    for expected in range(STEP, ROWS, STEP):  # 4, 8: the bar must show each before the worker goes on
        assert worker.step() == expected
        expect(bar).to_have_attribute("value", str(expected))
        expect(bar).to_have_attribute("max", str(ROWS))
        expect(row).to_contain_text(f"{expected} of {ROWS} rows")
        seen.append(int(bar.get_attribute("value") or 0))
        worker.go_on.put(True)
    assert worker.step() == ROWS
    worker.go_on.put(True)
    worker.thread.join(timeout=30)
    assert not worker.failure, worker.failure
    assert seen == [4, 8]

    download_link = row.get_by_role("link", name="Download")
    expect(download_link).to_be_visible()
    expect(row).to_contain_text(f"{ROWS} rows")
    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename == "docket-violations.csv"
    with open(download.path(), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    assert len(rows) == ROWS == Violation.objects.count()
    sample = rows[5]
    in_db = Violation.objects.select_related("account", "decision__reviewer")
    violation = in_db.get(decision_id=int(sample["decision"]))
    assert violation == made[5]
    assert sample["account"] == violation.account.user_hash
    assert (sample["category"], sample["severity"], sample["reviewer"]) == (
        violation.category_id, violation.severity, violation.decision.reviewer.username)
    assert int(sample["case"]) == violation.case_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sample["decided_at"])
    verbs = set(AuditEntry.objects.filter(target_type="console.export").values_list("verb", flat=True))
    assert verbs == {AuditVerb.EXPORT_REQUESTED, AuditVerb.EXPORT_COMPLETED, AuditVerb.EXPORT_DOWNLOADED}
    browser_problems.assert_none()


def test_a_small_export_downloads_at_once(
    page: Page, live_server: Any, ops: Any, reviewer: Any, acme: Integration, browser_problems: BrowserProblems,
) -> None:
    made = [make_violation(acme, reviewer, user=f"user-{n}") for n in range(3)]
    login(page, live_server.url, "otto", PASSWORD)
    page.goto("/exports/?report=violations")
    page.locator("#id_format").select_option("jsonl")

    with page.expect_download() as info:
        page.get_by_role("button", name="Export", exact=True).click()

    lines = Path(info.value.path()).read_text().splitlines()
    assert len(lines) == len(made)
    assert not Export.objects.exists()
    browser_problems.assert_none()
