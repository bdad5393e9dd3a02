"""Versioned policy documents: numbered, diffed, shown and restored the same way whatever they are.

A *document* is one unit of policy that changes as a whole: an enforcement
rule, a policy profile (its thresholds), a source's label mappings and cut
points, the ordered set of routing rules. Each change saves the document's
full snapshot as a new `DocumentVersion` row (author, time, required reason);
the history page diffs each version against the one before it.

What a document *means* to people lives in a `Document` subclass: it turns a
snapshot into labelled lines (`Entry`). Everything else — the diff, "is this
version the same as now", the history rows — is done here once, on lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone

from console.models import DocumentVersion, jsonable
from console.pagination import KeysetPage, keyset_page


@dataclass(frozen=True)
class Entry:
    """One line of a document: a stable key, what people read as its name, its value, the value in words."""

    key: str
    label: str
    value: Any
    shown: str


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.field}: {self.old} → {self.new}"


class Document:
    """How one kind of document reads. Subclasses give its lines; the rest is shared."""

    absent = "—"  # how a line that a version does not have reads in a diff

    def entries(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        raise NotImplementedError

    def summary(self, snapshot: Mapping[str, Any]) -> str:
        return ""

    def settings(self, snapshot: Mapping[str, Any]) -> list[Entry]:
        """The lines shown for a version with no version before it (the first one)."""
        return self.entries(snapshot)

    def same(self, snapshot: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
        """Would restoring `snapshot` change nothing? By default: every line it has equals now's."""
        now = {entry.key: entry.value for entry in self.entries(current)}
        return all(key in now and now[key] == entry.value for key, entry in self._keyed(snapshot).items())

    def diff(self, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Change]:
        """The lines that differ, in the order of `after`, then lines `after` no longer has."""
        old = self._keyed(before) if before is not None else {}
        changes: list[Change] = []
        for entry in self.entries(after):
            previous = old.pop(entry.key, None)
            if previous is None:
                changes.append(Change(entry.label, self.absent, entry.shown))
            elif previous.value != entry.value:
                changes.append(Change(entry.label, previous.shown, entry.shown))
        changes.extend(Change(gone.label, gone.shown, self.absent) for gone in old.values())
        return changes

    def _keyed(self, snapshot: Mapping[str, Any]) -> dict[str, Entry]:
        return {entry.key: entry for entry in self.entries(snapshot)}


def diff_text(changes: Iterable[Change]) -> str:
    """A diff as plain lines, "Field: old → new", for messages and the audit log."""
    return "\n".join(str(change) for change in changes)


@dataclass(frozen=True)
class VersionRow:
    version: DocumentVersion
    summary: str
    changes: list[Change]
    settings: list[Change]  # a version with no version before it: the document in full
    is_current: bool
    same_as_current: bool  # restoring it would change nothing
    restore_url: str = ""


def history_rows(
    document: Document,
    versions: list[DocumentVersion],
    *,
    previous: Mapping[int, DocumentVersion],
    current: Mapping[str, Any],
    current_version: int | None,
    restore_url: Callable[[int], str] | None = None,
) -> list[VersionRow]:
    """Each version with its diff against the version before it (looked up in `versions` or `previous`)."""
    by_number = {v.version: v for v in versions} | dict(previous)
    rows = []
    for version in versions:
        before = by_number.get(version.version - 1)
        changes = document.diff(before.snapshot, version.snapshot) if before is not None else []
        settings = (
            []
            if before is not None
            else [Change(e.label, "", e.shown) for e in document.settings(version.snapshot)]
        )
        rows.append(
            VersionRow(
                version=version,
                summary=document.summary(version.snapshot),
                changes=changes,
                settings=settings,
                is_current=version.version == current_version,
                same_as_current=document.same(version.snapshot, current),
                restore_url=restore_url(version.version) if restore_url else "",
            )
        )
    return rows


@dataclass(frozen=True)
class HistoryPage:
    rows: list[VersionRow]
    page: KeysetPage


def history_page(
    document: Document,
    versions: QuerySet[Any],
    *,
    params: QueryDict,
    current: Mapping[str, Any],
    restore_url: Callable[[int], str] | None = None,
    size: int = 25,
) -> HistoryPage:
    """One page of a document's history, newest first, in three queries whatever its length.

    `versions` is the document's version queryset (its author joined); the
    version just before the page's oldest is read too, for that one's diff.
    """
    page = keyset_page(versions, params=params, order=("-version",), size=size)
    current_version = versions.order_by("-version").values_list("version", flat=True).first()
    previous: dict[int, DocumentVersion] = {}
    if page.items:
        oldest = page.items[-1].version
        previous = {v.version: v for v in versions.filter(version=oldest - 1)}
    rows = history_rows(
        document, page.items, previous=previous, current=current, current_version=current_version,
        restore_url=restore_url,
    )
    return HistoryPage(rows=rows, page=page)


def require_reason(reason: str, *, what: str) -> str:
    """The reason, stripped; a change without one is refused (ValueError names what needed it)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError(f"{what} needs a reason.")
    return reason


def add_version(
    model: type[DocumentVersion],
    *,
    owner: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    actor: Any,
    reason: str,
    restored_from: int | None = None,
) -> DocumentVersion:
    """Save `snapshot` as the document's next version.

    The caller holds a lock that serialises changes to this document (its
    row, or the policy state row) in the same transaction, so the numbers
    cannot collide; the unique constraint would refuse it anyway.
    """
    # DocumentVersion is abstract, so the type checker knows no `objects`; every concrete table has it as its default.
    latest = model._default_manager.filter(**owner).order_by("-version").values_list("version", flat=True).first() or 0
    return model._default_manager.create(
        **owner,
        version=latest + 1,
        snapshot=jsonable(dict(snapshot)),
        author=actor if getattr(actor, "is_authenticated", False) else None,
        reason=reason,
        created_at=timezone.now(),
        restored_from=restored_from,
    )


def restored_reason(version: int, reason: str) -> str:
    return f"Restored version {version}: {reason}"
