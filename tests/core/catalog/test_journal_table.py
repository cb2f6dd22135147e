"""The ``journal`` table has one owner (catalog/journal.py), and its rows are named, versioned records."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.journal import JournalTable, NewerRecord, header, record_version, text
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.models import utcnow
from comfyui_model_library.core.records.kinds import RecordError
from tests.package_files import package_files

PACKAGE = Path(__file__).resolve().parents[3]
OWNER = PACKAGE / "core" / "catalog" / "journal.py"
JOURNAL_SQL = re.compile(r"\b(FROM|INTO|UPDATE)\s+journal\b", re.IGNORECASE)


def test_no_sql_on_the_journal_table_outside_its_owner() -> None:
    offenders = []
    for path in package_files(PACKAGE):
        if path == OWNER:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if JOURNAL_SQL.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "SQL on table journal belongs in core/catalog/journal.py:\n" + "\n".join(offenders)


@dataclass(frozen=True)
class Note:
    RECORD: ClassVar[str] = "note"
    VERSION: ClassVar[int] = 2
    text: str

    def to_json(self) -> dict[str, Any]:
        return {**header(self), "text": self.text}

    @classmethod
    def from_json(cls, d: Any) -> Note:
        record_version(d, cls.RECORD, cls.VERSION)
        return cls(text(d, "text"))


@pytest.fixture
def table(tmp_path: Path) -> JournalTable:
    db = Database(tmp_path / "catalog.sqlite")
    migrate(db)
    return JournalTable(db, "note")


def _raw(table: JournalTable, key: str, data_json: str, op: str = "note") -> None:
    with table.db.transaction() as conn:
        conn.execute(
            "INSERT INTO journal(op, key, step, data_json, created_at) VALUES (?, ?, 's', ?, ?)",
            (op, key, data_json, utcnow()),
        )


def test_write_is_one_row_per_key_and_entries_read_it_back(table: JournalTable) -> None:
    table.write("a", "first", Note("one"))
    table.write("b", "first", Note("two"))
    table.write("a", "second", Note("three"))
    entries = table.entries(Note.from_json)
    assert [(e.key, e.step, e.record) for e in entries] == [
        ("a", "second", Note("three")),
        ("b", "first", Note("two")),
    ]
    table.delete("a")
    assert table.count() == 1


def test_unversioned_rows_read_newer_ones_stay_unreadable_ones_go(table: JournalTable) -> None:
    _raw(table, "v1", '{"text": "old"}')
    _raw(table, "newer", json.dumps({"record": "note", "version": 3, "text": "later"}))
    _raw(table, "broken", "{not json")
    _raw(table, "wrong", '{"text": 5}')
    _raw(table, "other-op", "{not json", op="other")

    assert [(e.key, e.record) for e in table.entries(Note.from_json)] == [("v1", Note("old"))]
    keys = [r["key"] for r in table.db.execute_read("SELECT key FROM journal ORDER BY id")]
    assert keys == ["v1", "newer", "other-op"], "only this op's unreadable rows are discarded"


def test_record_version_rules() -> None:
    assert record_version({}, "note", 2) == 1
    assert record_version({"record": "note", "version": 2}, "note", 2) == 2
    with pytest.raises(NewerRecord):
        record_version({"record": "note", "version": 3}, "note", 2)
    for bad in ({"record": "other", "version": 2}, {"version": "2"}, {"version": 0}, {"version": True}):
        with pytest.raises(RecordError):
            record_version(bad, "note", 2)


def test_many_rows_are_written_and_deleted_in_chunks_of_any_size(table: JournalTable) -> None:
    other = JournalTable(table.db, "other")
    other.write_many([("k1", "s", Note("not ours"))])
    table.write_many((f"k{i}", "first", Note(f"n{i}")) for i in range(1200))
    # A key given twice in one call keeps the last; an existing row is updated, not duplicated.
    table.write_many([("k5", "second", Note("a")), ("k5", "third", Note("b")), ("k7", "second", Note("c"))])
    entries = {e.key: (e.step, e.record.text) for e in table.entries(Note.from_json)}
    assert len(entries) == 1200
    assert (
        entries["k5"] == ("third", "b")
        and entries["k7"] == ("second", "c")
        and entries["k8"] == ("first", "n8")
    )
    gone = [f"k{i}" for i in range(1100)] + ["k3", "k1099", "nowhere"]  # repeats and an unknown key
    table.delete_many(gone)
    assert sorted(e.key for e in table.entries(Note.from_json)) == sorted(f"k{i}" for i in range(1100, 1200))
    assert [e.key for e in other.entries(Note.from_json)] == [
        "k1"
    ]  # another op's row with a deleted key stays
