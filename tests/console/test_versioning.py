"""The versioning engine on its own: diffs over a document's lines, history rows, reasons."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from console.versioning import Change, Document, Entry, diff_text, history_rows, require_reason


class Settings(Document):
    """A toy document: a flat dict of numbers, keys shown upper-case."""

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        return [Entry(key, key.upper(), value, f"{value}!") for key, value in snapshot.items()]


def version(number: int, snapshot: dict[str, Any]) -> Any:
    return SimpleNamespace(version=number, snapshot=snapshot)


def test_it_lists_changed_added_and_removed_lines_in_the_new_order() -> None:
    changes = Settings().diff({"a": 1, "b": 2, "gone": 3}, {"b": 5, "a": 1, "new": 4})
    assert changes == [Change("B", "2!", "5!"), Change("NEW", "—", "4!"), Change("GONE", "3!", "—")]


def test_the_diff_text_reads_field_old_arrow_new() -> None:
    assert diff_text([Change("Violence", "Medium and above", "High only"), Change("Name", "A", "B")]) == (
        "Violence: Medium and above → High only\nName: A → B"
    )


def test_an_unchanged_document_has_no_diff() -> None:
    assert Settings().diff({"a": 1}, {"a": 1}) == []


def test_history_rows_diff_each_version_against_the_one_before_and_mark_the_current_one() -> None:
    v1, v2, v3 = version(1, {"a": 1}), version(2, {"a": 2}), version(3, {"a": 1})
    rows = history_rows(Settings(), [v3, v2, v1], previous={}, current={"a": 1}, current_version=3,
                        restore_url=lambda n: f"/restore/{n}")
    assert [(r.version.version, r.is_current, r.same_as_current) for r in rows] == [
        (3, True, True), (2, False, False), (1, False, True)]
    assert rows[0].changes == [Change("A", "2!", "1!")] and rows[0].settings == []
    assert rows[2].changes == [] and rows[2].settings == [Change("A", "", "1!")]  # the first: shown in full
    assert rows[1].restore_url == "/restore/2"


def test_the_oldest_row_of_a_page_is_diffed_against_the_version_before_the_page() -> None:
    [row] = history_rows(Settings(), [version(5, {"a": 9})], previous={4: version(4, {"a": 8})}, current={"a": 9},
                         current_version=5)
    assert row.changes == [Change("A", "8!", "9!")]


def test_a_version_with_fewer_lines_is_the_same_when_every_line_it_has_is_as_now() -> None:
    assert Settings().same({"a": 1}, {"a": 1, "b": 2}) is True
    assert Settings().same({"a": 1, "b": 3}, {"a": 1, "b": 2}) is False


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_change_without_a_reason_is_refused_naming_what_needed_one(reason: Any) -> None:
    with pytest.raises(ValueError, match=r"^A profile change needs a reason\.$"):
        require_reason(reason, what="A profile change")


def test_a_reason_is_kept_stripped() -> None:
    assert require_reason("  too many false positives \n", what="x") == "too many false positives"
