"""The Exports page: small reports stream to the browser, large ones go to the background."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from console.models import AuditEntry, AuditVerb, Export, ExportState, ReportSubscription
from console.roles import Role
from tests.factories import make_integration, make_violation

pytestmark = pytest.mark.django_db


@pytest.fixture
def violations(roles: None, reviewer: Any) -> list[Any]:
    acme = make_integration("Acme Chat")
    return [make_violation(acme, reviewer, user=f"u{n}", category=cat)
            for n, cat in enumerate(["hate", "sexual", "hate"])]


@pytest.fixture
def export_dir(settings: Any, tmp_path: Any) -> Any:
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


def run(client: Any, name: str = "violations", **data: Any) -> Any:
    return client.post(reverse("console:export_run", kwargs={"name": name}), {"format": "csv", **data})


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_a_small_report_streams_straight_to_the_browser_and_is_audited(client, ops, violations) -> None:
    client.force_login(ops)

    response = run(client, category="hate")

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="docket-violations.csv"'
    rows = rows_of(b"".join(response.streaming_content))
    assert [int(r["decision"]) for r in rows] == [violations[0].decision_id, violations[2].decision_id]
    entry = AuditEntry.objects.get(verb=AuditVerb.REPORT_EXPORTED)
    assert (entry.actor_label, entry.target_type, entry.target_id) == ("otto", "report", "violations")
    assert entry.after == {"report": "violations", "filters": {"category": "hate"}, "format": "csv",
                           "channel": "browser"}


def test_json_lines_come_with_their_own_type_and_name(client, ops, violations) -> None:
    client.force_login(ops)

    response = run(client, "reviewer_activity", format="jsonl", date_from="2025-01-01", date_to="2025-01-31")

    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="docket-reviewer-activity-2025-01-01-to-2025-01-31.jsonl"'
    )
    assert b"".join(response.streaming_content) == b""


def test_a_large_report_is_written_in_the_background_then_downloaded(
    client, ops, violations, settings, export_dir, django_capture_on_commit_callbacks
) -> None:
    settings.DOCKET_EXPORT_STREAM_MAX_ROWS = 2
    client.force_login(ops)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = run(client)

    export = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('console:exports')}?report=violations#export-{export.pk}"
    assert len(callbacks) == 1
    assert (export.state, export.rows_done, export.rows_total, export.requested_by) == (ExportState.DONE, 3, 3, ops)
    assert (export_dir / export.file_name).is_file()
    page = client.get(reverse("console:exports"))
    assert f'href="{reverse("console:export_download", kwargs={"pk": export.pk})}"' in page.content.decode()

    download = client.get(reverse("console:export_download", kwargs={"pk": export.pk}))

    assert isinstance(download, FileResponse)
    assert download["Content-Disposition"] == 'attachment; filename="docket-violations.csv"'
    rows = rows_of(b"".join(download.streaming_content))
    assert [int(r["decision"]) for r in rows] == [v.decision_id for v in violations]
    entries = AuditEntry.objects.filter(target_type="console.export").order_by("seq")
    verbs = list(entries.values_list("verb", "actor_label"))
    assert verbs == [(AuditVerb.EXPORT_REQUESTED, "otto"), (AuditVerb.EXPORT_COMPLETED, "system"),
                     (AuditVerb.EXPORT_DOWNLOADED, "otto")]


def test_the_progress_row_polls_while_running_and_offers_the_file_when_done(client, ops) -> None:
    client.force_login(ops)
    export = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now(),
                                   state=ExportState.RUNNING, rows_done=250, rows_total=1000)
    url = reverse("console:export_progress", kwargs={"pk": export.pk})

    running = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in running
    assert 'value="250" max="1000"' in running
    assert "250 of 1000 rows" in running

    Export.objects.filter(pk=export.pk).update(state=ExportState.DONE, rows_done=1000, size_bytes=2048,
                                               file_name="x.csv", expires_at=timezone.now())
    done = client.get(url).content.decode()
    assert "hx-trigger" not in done
    assert reverse("console:export_download", kwargs={"pk": export.pk}) in done
    assert "1000 rows, 2.0\xa0KB" in done


def test_nobody_else_sees_or_downloads_an_export(client, ops, make_staff, export_dir) -> None:
    export_dir.mkdir(parents=True)
    (export_dir / "mine.csv").write_text("secret\n")
    export = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now(),
                                   state=ExportState.DONE, file_name="mine.csv")
    client.force_login(make_staff(Role.OPS, "olga"))

    assert client.get(reverse("console:export_download", kwargs={"pk": export.pk})).status_code == 404
    assert client.get(reverse("console:export_progress", kwargs={"pk": export.pk})).status_code == 404
    assert f"export-{export.pk}" not in client.get(reverse("console:exports")).content.decode()
    assert not AuditEntry.objects.filter(verb=AuditVerb.EXPORT_DOWNLOADED).exists()


def test_an_expired_or_unfinished_export_has_nothing_to_download(client, ops) -> None:
    client.force_login(ops)
    for state in (ExportState.PENDING, ExportState.RUNNING, ExportState.FAILED, ExportState.EXPIRED):
        export = Export.objects.create(requested_by=ops, report="violations", format="csv", state=state,
                                       created_at=timezone.now())
        assert client.get(reverse("console:export_download", kwargs={"pk": export.pk})).status_code == 404


def test_bad_filters_are_form_errors_naming_the_field(client, ops) -> None:
    client.force_login(ops)

    backwards = run(client, date_from="2025-02-01", date_to="2025-01-01")
    unknown_category = run(client, category="gossip")
    no_such_report = run(client, "payroll")

    assert backwards.status_code == 400
    assert "To must not be before From." in backwards.content.decode()
    assert unknown_category.status_code == 400
    assert "Select a valid choice" in unknown_category.content.decode()
    assert no_such_report.status_code == 404
    assert not AuditEntry.objects.filter(verb=AuditVerb.REPORT_EXPORTED).exists()


def test_each_report_tab_shows_only_the_filters_it_takes(client, ops) -> None:
    client.force_login(ops)

    violations = client.get(reverse("console:exports")).content.decode()
    actions = client.get(reverse("console:exports"), {"report": "actions"}).content.decode()
    activity = client.get(reverse("console:exports"), {"report": "reviewer_activity"}).content.decode()

    assert 'name="source"' in violations and 'value="voided"' in violations
    assert 'name="source"' not in actions and 'value="applied"' in actions
    assert 'name="state"' not in activity and 'name="queue"' in activity
    assert reverse("console:export_run", kwargs={"name": "actions"}) in actions
    assert client.get(reverse("console:exports"), {"report": "payroll"}).status_code == 404


def test_the_exports_page_costs_the_same_queries_however_many_exports(client, ops,
                                                                      django_assert_num_queries) -> None:
    client.force_login(ops)

    def make(count: int) -> None:
        for _ in range(count):
            integration = make_integration()
            Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now(),
                                  state=ExportState.RUNNING, rows_total=10, filters={"integration": integration.pk})
            ReportSubscription.objects.create(user=ops, report="actions", frequency="daily",
                                              filters={"integration": integration.pk}, created_at=timezone.now())

    make(1)
    client.get(reverse("console:exports"))  # warm the session and the choices
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get(reverse("console:exports"))
    make(15)
    with django_assert_num_queries(len(one)):
        response = client.get(reverse("console:exports"))
    body = response.content.decode()
    assert body.count('hx-trigger="every 1s"') == 16
    assert body.count("integration integration-") == 32


def test_the_exports_page_pages_through_exports_by_keyset(client, ops) -> None:
    client.force_login(ops)
    made = [Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now())
            for _ in range(25)]

    first = client.get(reverse("console:exports")).content.decode()
    assert f'id="export-{made[-1].pk}"' in first and f'id="export-{made[4].pk}"' not in first
    after = f"after={made[5].pk}"
    assert after in first
    second = client.get(reverse("console:exports") + "?" + after).content.decode()
    assert f'id="export-{made[4].pk}"' in second and f'id="export-{made[5].pk}"' not in second
