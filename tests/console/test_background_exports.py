"""Background exports: requested, written by a task with progress, kept for a while, then deleted."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from console.models import AuditEntry, AuditVerb, Export, ExportState
from console.periodic import PERIODIC_JOBS
from console.reports import Filters, get_report
from console.reports import services as reports
from console.tasks import sweep_exports
from tests.factories import make_integration, make_violation

pytestmark = pytest.mark.django_db


@pytest.fixture
def violations(roles: None, reviewer: Any) -> list[Any]:
    acme = make_integration("Acme Chat")
    return [make_violation(acme, reviewer, user=f"u{n}") for n in range(4)]


@pytest.fixture
def export_dir(settings: Any, tmp_path: Any) -> Any:
    settings.DOCKET_EXPORT_DIR = tmp_path / "exports"
    return settings.DOCKET_EXPORT_DIR


def request(actor: Any, fmt: str = "csv", **filters: Any) -> Export:
    return reports.request_export(actor=actor, report=get_report("violations"), filters=Filters(**filters), fmt=fmt)


def test_the_task_runs_once_the_request_commits_and_writes_the_whole_report(
    ops, violations, export_dir, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = request(ops, "jsonl")
    assert Export.objects.get(pk=export.pk).state == ExportState.PENDING  # nothing ran before the commit
    assert len(callbacks) == 1

    callbacks[0]()  # the commit: the immediate backend runs the task now

    export.refresh_from_db()
    assert export.state == ExportState.DONE
    assert (export.rows_done, export.rows_total) == (4, 4)
    path = export_dir / export.file_name
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [row["decision"] for row in lines] == [v.decision_id for v in violations]
    assert export.size_bytes == path.stat().st_size
    assert export.expires_at == export.finished_at + timedelta(hours=72)
    assert oct(path.stat().st_mode & 0o777) == oct(reports.FILE_MODE)
    assert not list(export_dir.glob("*.part"))


def test_a_second_run_of_the_task_does_nothing(ops, violations, export_dir) -> None:
    export = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now())

    first = reports.run_export(export_id=export.pk)
    second = reports.run_export(export_id=export.pk)

    assert first is not None and first.state == ExportState.DONE
    assert second is None
    assert len(list(export_dir.iterdir())) == 1
    assert AuditEntry.objects.filter(verb=AuditVerb.EXPORT_COMPLETED).count() == 1


def test_an_export_whose_worker_vanished_is_run_again_by_the_sweep(ops, violations, export_dir) -> None:
    long_ago = timezone.now() - timedelta(minutes=30)
    stalled = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=long_ago,
                                    state=ExportState.RUNNING, progress_at=long_ago, rows_done=2)
    lost = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=long_ago)
    fresh = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now(),
                                  state=ExportState.RUNNING, progress_at=timezone.now())

    sweep_exports.call()

    states = dict(Export.objects.values_list("pk", "state"))
    assert states == {stalled.pk: ExportState.DONE, lost.pk: ExportState.DONE, fresh.pk: ExportState.RUNNING}
    assert Export.objects.get(pk=stalled.pk).rows_done == 4


@pytest.mark.django_db(transaction=True)
def test_progress_is_saved_as_the_rows_are_written(ops, violations, export_dir) -> None:
    # Committed data: on PostgreSQL progress goes through a second connection, as a worker's does,
    # and the page (another connection again) reads it from there.
    export = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now())
    seen: list[tuple[int, int | None, str]] = []

    def watch(rows_done: int) -> None:
        # The default connection is busy streaming the COPY: read as the page would, on another one.
        from django.db import connection

        if connection.vendor != "postgresql":
            row = Export.objects.get(pk=export.pk)
            seen.append((row.rows_done, row.rows_total, row.state))
            return
        import psycopg

        params = {k: v for k, v in connection.get_connection_params().items()
                  if k in {"dbname", "user", "password", "host", "port"}}
        with psycopg.connect(**params) as other:
            found = other.execute(
                f"SELECT rows_done, rows_total, state FROM {Export._meta.db_table} WHERE id = %s", [export.pk]
            ).fetchone()
        seen.append(tuple(found))  # type: ignore[arg-type]

    reports.run_export(export_id=export.pk, progress_every=1, on_progress=watch)

    assert seen == [(n, 4, ExportState.RUNNING) for n in (1, 2, 3, 4)]


def test_a_failing_export_says_why_and_leaves_no_file(ops, violations, export_dir, monkeypatch) -> None:
    export = Export.objects.create(requested_by=ops, report="violations", format="csv", created_at=timezone.now())

    def broken(*args: Any, **kwargs: Any) -> Any:
        yield b"half a file", 1
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports, "chunks", broken)
    reports.run_export(export_id=export.pk)

    export.refresh_from_db()
    assert export.state == ExportState.FAILED
    assert export.error == "OSError: [Errno 28] No space left on device"
    assert list(export_dir.iterdir()) == []
    entry = AuditEntry.objects.get(verb=AuditVerb.EXPORT_FAILED)
    assert (entry.actor_label, entry.target_id) == ("system", str(export.pk))


def test_the_sweep_deletes_files_past_their_keep_time_and_keeps_the_rest(
    client, ops, violations, export_dir, settings
) -> None:
    settings.DOCKET_EXPORT_KEEP_HOURS = 1
    old = reports.run_export(export_id=request(ops).pk)
    new = reports.run_export(export_id=request(ops, category="hate").pk)
    assert old is not None and new is not None
    Export.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    orphan = export_dir / "99-dead.csv.part"
    orphan.write_text("partial")
    two_hours_ago = (timezone.now() - timedelta(hours=2)).timestamp()
    import os

    os.utime(orphan, (two_hours_ago, two_hours_ago))

    assert sweep_exports.call() == 1

    old.refresh_from_db()
    assert (old.state, old.file_name) == (ExportState.EXPIRED, "")
    assert sorted(p.name for p in export_dir.iterdir()) == [new.file_name]
    entry = AuditEntry.objects.get(verb=AuditVerb.EXPORT_EXPIRED)
    assert (entry.actor_label, entry.target_id) == ("system", str(old.pk))
    client.force_login(ops)
    assert client.get(f"/exports/{old.pk}/download/").status_code == 404
    assert client.get(f"/exports/{new.pk}/download/").status_code == 200
    assert sweep_exports.call() == 0  # twice is the same as once


def test_the_sweep_is_a_declared_periodic_job() -> None:
    assert "console.tasks.sweep_exports" in {job.task_path for job in PERIODIC_JOBS}
    assert "console.tasks.enqueue_due_reports" in {job.task_path for job in PERIODIC_JOBS}


def test_write_report_never_leaves_a_partial_file_under_the_final_name(violations, tmp_path, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        yield b"decided_at\n", 0
        raise RuntimeError("connection lost")

    monkeypatch.setattr(reports, "chunks", broken)
    with pytest.raises(RuntimeError):
        reports.write_report(report=get_report("violations"), filters=Filters(), fmt="csv", path=tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == []


def test_the_file_a_background_export_writes_matches_the_streamed_one(ops, violations, export_dir) -> None:
    done = reports.run_export(export_id=request(ops).pk)
    assert done is not None
    streamed = b"".join(reports.stream_report(actor=ops, report=get_report("violations"), filters=Filters(),
                                              fmt="csv", channel="browser"))
    written = (export_dir / done.file_name).read_bytes()
    assert written == streamed
    assert len(list(csv.reader(io.StringIO(written.decode())))) == 5
