"""The four reports, row by row against the database, as CSV and as JSON Lines, with their filters.

These run on whichever database the suite runs on: SQLite formats rows in
Python, PostgreSQL in SQL through COPY (run them with DATABASE_URL set to
cover that path); the tests marked `postgres` check what only COPY does.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import ActionKind, Violation
from accounts.services import apply_action, approve_action, propose_action
from console.reports import REPORTS, Filters, get_report
from console.reports.writers import chunks, count_rows
from review.models import Category, Decision, Outcome, Queue, Severity
from review.services import Verdict, correct_decision, ingest_flags
from tests.factories import flag_payload, make_case, make_decision, make_integration, make_violation

pytestmark = pytest.mark.django_db


def export(name: str, fmt: str = "csv", **filters: Any) -> list[dict[str, Any]]:
    """The report's file, parsed back: CSV cells are strings ('' when empty), JSON keeps its types."""
    report = get_report(name)
    data = b"".join(chunk for chunk, _rows in chunks(report, Filters(**filters), fmt)).decode()
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data))
        assert reader.fieldnames == report.column_names
        return list(reader)
    rows = [json.loads(line) for line in data.splitlines()]
    assert all(list(row) == report.column_names for row in rows)
    return rows


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@pytest.fixture
def acme(roles: None) -> Any:
    return make_integration("Acme Chat")


@pytest.fixture
def globex(roles: None) -> Any:
    return make_integration("Globex")


def test_it_writes_one_violation_row_per_violating_decision_with_the_database_values(acme, reviewer, senior) -> None:
    hate = make_violation(acme, reviewer, category="hate", severity="high", user="u1",
                          result={"signals": [{"category": "hate", "score": 0.91}, {"category": "violence",
                                                                                    "score": 0.2}]})
    fraud = make_violation(acme, reviewer, category="fraud_spam", severity="low", user="u2", source="generic")
    make_decision(make_case(acme, user="u3"), reviewer)  # not violating: no row
    action = propose_action(actor=senior, account=hate.account, kind=ActionKind.WARN, reason="first", evidence=[hate])

    for fmt in ("csv", "jsonl"):
        rows = export("violations", fmt)
        assert [int(r["decision"]) for r in rows] == [hate.decision_id, fraud.decision_id], fmt
        first = rows[0]
        assert first["decided_at"] == iso(hate.confirmed_at)
        assert first["occurred_at"] == iso(hate.occurred_at)
        assert first["integration"] == "Acme Chat"
        assert first["account"] == hate.account.user_hash
        assert (first["category"], first["severity"]) == ("hate", "high")
        assert first["source"] == "generic"
        assert first["signals"].startswith("hate high 0.91")
        assert "violence" in first["signals"]
        assert first["reviewer"] == "rita"
        assert int(first["case"]) == hate.case_id
        assert first["state"] == "confirmed"
        assert first["actions"] == f"#{action.pk} warn proposed"
        assert rows[1]["actions"] in ("", None)  # an empty cell, a JSON null


def test_a_violation_keeps_a_copy_of_its_evidence_and_the_migration_fills_in_older_ones(acme, reviewer) -> None:
    import importlib

    from django.apps import apps

    violation = make_violation(acme, reviewer, category="hate", source="openai",
                               result={"results": [{"flagged": True, "categories": {"hate": True},
                                                    "category_scores": {"hate": 0.875, "violence": 0.5}}]})
    violation.refresh_from_db()
    assert violation.source == "openai"
    assert violation.signals.startswith("hate ")
    assert "0.875 (hate)" in violation.signals
    kept = (violation.source, violation.signals)

    Violation.objects.filter(pk=violation.pk).update(source="", signals="")
    importlib.import_module("accounts.migrations.0006_violation_evidence").copy_evidence(apps, None)
    violation.refresh_from_db()
    assert (violation.source, violation.signals) == kept
    assert export("violations")[0]["signals"] == kept[1]


def test_the_json_lines_keep_numbers_as_numbers_and_empty_as_null(acme, reviewer) -> None:
    violation = make_violation(acme, reviewer)

    [row] = export("violations", "jsonl")

    assert row["case"] == violation.case_id
    assert row["actions"] is None


def test_a_corrected_violation_is_voided_and_the_state_filter_tells_them_apart(acme, reviewer, senior) -> None:
    first = make_violation(acme, reviewer, category="hate", user="u1")
    kept = make_violation(acme, reviewer, category="sexual", user="u2")
    correct_decision(actor=senior, decision=first.decision, verdict=Verdict(outcome=Outcome.NOT_VIOLATING),
                     reason="misread")

    assert [r["state"] for r in export("violations")] == ["voided", "confirmed"]
    assert [int(r["decision"]) for r in export("violations", state="confirmed")] == [kept.decision_id]
    assert [int(r["decision"]) for r in export("violations", state="voided")] == [first.decision_id]


def test_violation_filters_each_narrow_the_rows(acme, globex, reviewer) -> None:
    hate = make_violation(acme, reviewer, category="hate", severity="high", user="u1")
    sexual = make_violation(acme, reviewer, category="sexual", severity="low", user="u2", source="openai",
                            result={"results": [{"flagged": True, "categories": {"sexual": True},
                                                 "category_scores": {"sexual": 0.97}}]})
    other = make_violation(globex, reviewer, category="hate", severity="low", user="u3")
    Violation.objects.filter(pk=other.pk).update(confirmed_at=datetime(2025, 3, 1, 23, 59, tzinfo=UTC))

    def decisions(**filters: Any) -> set[int]:
        return {int(r["decision"]) for r in export("violations", **filters)}

    assert decisions(integration=acme.pk) == {hate.decision_id, sexual.decision_id}
    assert decisions(category="hate") == {hate.decision_id, other.decision_id}
    assert decisions(severity="low") == {sexual.decision_id, other.decision_id}
    assert decisions(source="openai") == {sexual.decision_id}
    assert decisions(queue=hate.case.queue.slug) >= {hate.decision_id}
    assert decisions(queue="escalations") == set()
    # Days are UTC and both ends count whole.
    assert decisions(date_from=date(2025, 3, 1), date_to=date(2025, 3, 1)) == {other.decision_id}
    assert decisions(date_to=date(2025, 2, 28)) == set()
    assert decisions(date_from=date(2025, 3, 2)) == {hate.decision_id, sexual.decision_id}


def test_the_action_report_has_one_row_per_action_with_its_people_and_evidence(acme, reviewer, senior,
                                                                              second_senior) -> None:
    hate = make_violation(acme, reviewer, category="hate", user="u1")
    sexual = make_violation(acme, reviewer, category="sexual", user="u1")
    suspend = propose_action(actor=senior, account=hate.account, kind=ActionKind.SUSPEND, hours=24,
                             reason="twice =cmd", evidence=[hate, sexual])
    approve_action(actor=second_senior, action=suspend, reason="ok")
    apply_action(actor=second_senior, action=suspend, reason="go")
    suspend.refresh_from_db()
    warn = propose_action(actor=None, account=sexual.account, kind=ActionKind.WARN, reason="note")

    for fmt in ("csv", "jsonl"):
        rows = export("actions", fmt)
        assert [int(r["action"]) for r in rows] == [suspend.pk, warn.pk]
        row = rows[0]
        assert row["proposed_at"] == iso(suspend.proposed_at)
        assert (row["kind"], row["state"]) == ("suspend", "applied")
        assert row["proposed_by"] == "sam"
        assert row["approved_by"] == "sasha"
        assert row["applied_at"] == iso(suspend.applied_at)
        assert row["ends_at"] == iso(suspend.ends_at)
        assert int(row["evidence"]) == 2
        assert row["categories"] == "hate, sexual"
        assert row["account"] == hate.account.user_hash
        assert rows[1]["proposed_by"] == "system"
        assert int(rows[1]["evidence"]) == 0
    assert [int(r["action"]) for r in export("actions", state="proposed")] == [warn.pk]
    assert [int(r["action"]) for r in export("actions", category="hate")] == [suspend.pk]


def test_the_account_rate_report_counts_violations_in_the_period_per_account(clock, acme, reviewer) -> None:
    busy = make_violation(acme, reviewer, user="busy", category="hate").account
    make_violation(acme, reviewer, user="busy", category="sexual", prompt="another")
    make_violation(acme, reviewer, user="busy", category="hate", prompt="a third")
    quiet = make_violation(acme, reviewer, user="quiet", category="sexual").account
    make_case(acme, user="clean")

    for fmt in ("csv", "jsonl"):
        rows = export("account_rates", fmt)
        assert [r["account"] for r in rows] == [busy.user_hash, quiet.user_hash]
        assert [int(r["violations_in_period"]) for r in rows] == [3, 1]
        assert int(rows[0]["v24h"]) == 3
        assert int(rows[0]["violations_total"]) == 3
        assert rows[0]["state"] == "active"
    by_hate = export("account_rates", category="hate")
    assert [(r["account"], int(r["violations_in_period"])) for r in by_hate] == [(busy.user_hash, 2)]
    assert export("account_rates", date_to=timezone.now().date() - timedelta(days=1)) == []


def test_the_reviewer_activity_report_counts_each_reviewers_day(clock, acme, reviewer, senior) -> None:
    make_violation(acme, reviewer, user="u1")
    make_violation(acme, reviewer, user="u2")
    make_decision(make_case(acme, user="u3"), reviewer)
    wrong = make_decision(make_case(acme, user="u4"), senior)
    correct_decision(actor=senior, decision=wrong, verdict=Verdict(
        outcome=Outcome.VIOLATING, category=Category.objects.get(slug="hate"), severity=Severity.LOW), reason="r")
    today = timezone.now().astimezone(UTC).date().isoformat()

    for fmt in ("csv", "jsonl"):
        rows = {r["reviewer"]: r for r in export("reviewer_activity", fmt)}
        assert set(rows) == {"rita", "sam"}
        rita, sam = rows["rita"], rows["sam"]
        assert rita["day"] == today
        assert [int(rita[k]) for k in ("decisions", "violating", "not_violating", "escalated")] == [3, 2, 1, 0]
        assert [int(sam[k]) for k in ("decisions", "corrected_later", "corrections")] == [2, 1, 1]
    assert Decision.objects.count() == 5


def test_a_guarded_column_cannot_start_a_spreadsheet_formula_in_csv(acme, reviewer, senior) -> None:
    make_violation(acme, reviewer, user="u1")
    propose_action(actor=senior, account=make_violation(acme, reviewer, user="u2").account,
                   kind=ActionKind.WARN, reason="=HYPERLINK(\"http://evil\")")

    [row] = export("actions", "csv")
    [line] = export("actions", "jsonl")

    assert row["reason"] == "'=HYPERLINK(\"http://evil\")"
    assert line["reason"] == "=HYPERLINK(\"http://evil\")"  # JSON is data, not a spreadsheet


def test_count_rows_stops_counting_at_the_limit(acme, reviewer) -> None:
    for n in range(3):
        make_violation(acme, reviewer, user=f"u{n}")
    report = get_report("violations")

    assert count_rows(report, Filters()) == 3
    assert count_rows(report, Filters(), limit=2) == 2


def test_chunks_say_how_many_rows_they_hold(acme, reviewer) -> None:
    for n in range(5):
        make_violation(acme, reviewer, user=f"u{n}")
    report = get_report("violations")

    for fmt in ("csv", "jsonl"):
        pieces = list(chunks(report, Filters(), fmt, chunk_rows=2))
        assert [rows for _data, rows in pieces if rows] == [2, 2, 1]


def test_every_report_runs_on_an_empty_database_with_every_filter_it_takes(acme) -> None:
    values = {"date_from": date(2025, 1, 1), "date_to": date(2025, 1, 31), "integration": acme.pk,
              "category": "hate", "severity": "high", "source": "openai", "queue": Queue.objects.first().slug}
    for name, report in REPORTS.items():
        filters = {k: v for k, v in values.items() if k in report.filter_names}
        if report.states:
            filters["state"] = report.states[0][0]
        for fmt in ("csv", "jsonl"):
            assert export(name, fmt, **filters) == [], name


@pytest.mark.postgres
def test_copy_counts_a_row_whose_text_spans_lines_as_one(acme, reviewer, senior) -> None:
    violation = make_violation(acme, reviewer)
    propose_action(actor=senior, account=violation.account, kind=ActionKind.WARN, reason="line one\nline two")
    report = get_report("actions")

    for fmt in ("csv", "jsonl"):
        pieces = list(chunks(report, Filters(), fmt))
        assert sum(rows for _data, rows in pieces) == 1
    [row] = export("actions", "csv")
    assert row["reason"] == "line one\nline two"
    [line] = export("actions", "jsonl")
    assert line["reason"] == "line one\nline two"


@pytest.mark.postgres
def test_a_large_export_joins_its_lookups_once_and_writes_the_same_file(acme, reviewer, senior, monkeypatch) -> None:
    from console.reports import writers

    violations = [make_violation(acme, reviewer, user=f"u{n}", category=("hate", "sexual")[n % 2],
                                 result={"signals": [{"category": "hate", "score": 0.5 + n / 100},
                                                     {"category": "sexual", "score": 0.25}]})
                  for n in range(6)]
    propose_action(actor=senior, account=violations[0].account, kind=ActionKind.WARN, reason="r",
                   evidence=violations[:2])
    # A flag below every threshold has signals but no case: it must not gather into the lookup.
    ingest_flags(integration=acme, payloads=[flag_payload(user="below", result={"signals": [
        {"category": "hate", "level": "negligible"}]})])
    looked_up = {fmt: b"".join(c for c, _ in chunks(get_report("violations"), Filters(), fmt)) for fmt in ("csv",
                                                                                                       "jsonl")}
    monkeypatch.setattr(writers, "JOIN_LOOKUPS_FROM_ROWS", 2)

    for fmt in ("csv", "jsonl"):
        joined = b"".join(c for c, _ in chunks(get_report("violations"), Filters(category="hate"), fmt))
        assert b"LEFT JOIN" in writers.copy_sql(get_report("violations"), Filters(), fmt, joined=True)[0].encode()
        everything = b"".join(c for c, _ in chunks(get_report("violations"), Filters(), fmt))
        assert everything == looked_up[fmt]
        assert len(joined.splitlines()) == (4 if fmt == "csv" else 3)


@pytest.mark.postgres
def test_postgres_writes_through_copy(acme, reviewer) -> None:
    from console.reports.writers import copy_sql

    make_violation(acme, reviewer)
    sql, _params = copy_sql(get_report("violations"), Filters(), "jsonl")
    assert sql.startswith("COPY (SELECT json_build_object(")
    assert [r["state"] for r in export("violations", "jsonl")] == ["confirmed"]
