"""manage.py export_report: a report to a file or standard output; bad input exits non-zero with a sentence."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from console.models import AuditEntry, AuditVerb
from console.roles import Role
from tests.factories import make_integration, make_violation

pytestmark = pytest.mark.django_db


@pytest.fixture
def violations(roles: None, reviewer: Any) -> list[Any]:
    acme, globex = make_integration("Acme Chat"), make_integration("Globex")
    return [make_violation(acme, reviewer, user="u1", category="hate"),
            make_violation(globex, reviewer, user="u2", category="sexual")]


def test_it_writes_the_report_to_a_file_and_says_how_many_rows(violations, tmp_path) -> None:
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "v.csv"

    call_command("export_report", "violations", "--from", "2020-01-01", "--to", "2099-12-31", "--format", "csv",
                 "--output", str(target), stdout=out, stderr=err)

    rows = list(csv.DictReader(target.open()))
    assert [int(r["decision"]) for r in rows] == [v.decision_id for v in violations]
    assert err.getvalue().startswith(f"Wrote 2 rows of violations to {target} in ")
    entry = AuditEntry.objects.get(verb=AuditVerb.REPORT_EXPORTED)
    assert entry.actor_label == "manage.py export_report"
    assert entry.after == {"report": "violations", "format": "csv", "channel": "command",
                           "filters": {"date_from": "2020-01-01", "date_to": "2099-12-31"}}


def test_it_writes_to_standard_output_with_filters_and_an_actor(violations, make_staff, capsysbinary) -> None:
    make_staff(Role.OPS, "otto")

    call_command("export_report", "violations", "--format", "jsonl", "--integration", "Globex", "--actor", "otto")

    lines = [json.loads(line) for line in capsysbinary.readouterr().out.decode().splitlines()]
    assert [line["decision"] for line in lines] == [violations[1].decision_id]
    entry = AuditEntry.objects.get(verb=AuditVerb.REPORT_EXPORTED)
    assert entry.actor_label == "otto"
    assert entry.after["filters"] == {"integration": violations[1].account.integration_id}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["payroll"], "There is no report 'payroll'"),
        (["violations", "--from", "01/02/2025"], "Cannot export: from: Enter a valid date."),
        (["violations", "--from", "2025-02-01", "--to", "2025-01-01"], "Cannot export: to: To must not be before"),
        (["violations", "--format", "xlsx"], "Cannot export: format: Select a valid choice"),
        (["violations", "--category", "gossip"], "Cannot export: category: Select a valid choice"),
        (["violations", "--integration", "Nope"], "There is no integration named 'Nope'."),
        (["reviewer_activity", "--state", "confirmed"], "The reviewer_activity report cannot be filtered by state"),
        (["violations", "--output", "/no/such/folder/v.csv"], "Cannot write /no/such/folder/v.csv: the folder"),
        (["violations", "--actor", "ghost"], "There is no active staff user 'ghost'."),
        (["violations", "--actor", "rita"], "rita may not export reports"),
    ],
)
def test_bad_input_is_refused_with_a_sentence(violations, args: list[str], said: str) -> None:
    with pytest.raises(CommandError, match="^" + said.replace("(", r"\(").replace(".", r"\.")):
        call_command("export_report", *args)
    assert not AuditEntry.objects.filter(verb=AuditVerb.REPORT_EXPORTED).exists()


def test_bad_input_exits_non_zero_from_the_shell(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    done = subprocess.run([sys.executable, "manage.py", "export_report", "payroll"], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 1
    assert "There is no report 'payroll'" in done.stderr
