"""The ``journal`` table: the crash journals of multi-step operations, one row per operation in flight.

Three owners keep rows here, each under its own ``op``: the mapping apply (``mapping/journal.py``), the
import commit (``importer/journal.py``) and adoption (``adopt/journal.py``). A row is committed before
the first change it covers and deleted in the transaction that records the outcome, so after ``kill -9``
a leftover row names exactly what a run may have left half done; each owner replays its rows at open.

A row's ``data_json`` is one named, versioned record: a frozen dataclass with ``to_json`` (which writes
``{"record": RECORD, "version": VERSION, ...}``) and ``from_json``. Reading back (``JournalTable.entries``):

* a record without ``version`` is version 1, the unversioned shape written before records had versions:
  each ``from_json`` still reads it, so a crash left by an older version is recovered;
* a record from a newer version is left in place, with a warning, for that version to finish;
* a record that cannot be read (bad JSON, a missing or mistyped field) is warned about and discarded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ..models import utcnow
from ..records.kinds import RecordError
from .bulk import insert_rows
from .db import Database
from .rows import chunks

log = logging.getLogger(__name__)


class NewerRecord(RecordError):
    """A record written by a newer version of the library: left as it is, for that version to finish."""


class JournalRecord(Protocol):
    RECORD: ClassVar[str]
    VERSION: ClassVar[int]

    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R")


@dataclass(frozen=True)
class JournalEntry(Generic[R]):
    key: str
    step: str
    record: R


def header(record: JournalRecord) -> dict[str, Any]:
    """The name and version every journal record starts with."""
    return {"record": record.RECORD, "version": record.VERSION}


def record_version(d: Mapping[str, Any], record: str, current: int) -> int:
    """The version of ``d`` (1 when absent: written before journal records had versions).

    Raises ``NewerRecord`` for a version above ``current``, ``RecordError`` for a record of another name.
    """
    version = d.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordError("'version' must be a positive integer")
    if version > current:
        raise NewerRecord(f"{record!r} record version {version} is newer than this library's {current}")
    if version > 1 and d.get("record") != record:
        raise RecordError(f"not a {record!r} record")
    return version


# -- field checks for from_json ----------------------------------------------------------------------------
def text(d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise RecordError(f"{key!r} must be a string")
    return value


def flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise RecordError(f"{what!r} must be true or false")
    return value


def opt_int(value: object, what: str) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise RecordError(f"{what!r} must be an integer or null")
    return value


def texts(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = d.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"{key!r} must be a list of strings")
    return tuple(value)


def objects(d: Mapping[str, Any], key: str) -> list[Any]:
    value = d.get(key, [])
    if not isinstance(value, list):
        raise RecordError(f"{key!r} must be a list")
    return value


_INSERT_HEAD = "INSERT INTO journal(op, key, step, data_json, created_at)"
_ON_CONFLICT = "ON CONFLICT(op, key) DO UPDATE SET step=excluded.step, data_json=excluded.data_json"
_UPSERT = f"{_INSERT_HEAD} VALUES (?,?,?,?,?) {_ON_CONFLICT}"
_KEYS_PER_DELETE = 500


class JournalTable:
    """The rows of one ``op``. ``write`` and ``delete`` run in their own transaction, or join the caller's."""

    def __init__(self, db: Database, op: str) -> None:
        self.db = db
        self.op = op

    def write(self, key: str, step: str, record: JournalRecord) -> None:
        """Insert or update one row, durably."""
        with self.db.transaction() as conn:
            conn.execute(_UPSERT, (self.op, key, step, json.dumps(record.to_json()), utcnow()))

    def write_many(self, rows: Iterable[tuple[str, str, JournalRecord]]) -> None:
        """``write`` for many rows (key, step, record): one statement, one transaction (or the caller's)."""
        now = utcnow()
        params = [(self.op, key, step, json.dumps(record.to_json()), now) for key, step, record in rows]
        if params:
            with self.db.transaction() as conn:
                # Multi-row statements: a group's rows give up the GIL a few times, not once a row.
                insert_rows(conn, _INSERT_HEAD, "(?,?,?,?,?)", params, _ON_CONFLICT)

    def delete(self, key: str) -> None:
        self.delete_many([key])

    def delete_many(self, keys: Iterable[str]) -> None:
        unique = list(dict.fromkeys(keys))
        if unique:
            with self.db.transaction() as conn:
                for chunk in chunks(unique, _KEYS_PER_DELETE):
                    marks = ",".join("?" * len(chunk))
                    conn.execute(
                        f"DELETE FROM journal WHERE op = ? AND key IN ({marks})",  # noqa: S608 - placeholders
                        (self.op, *chunk),
                    )

    def count(self) -> int:
        return len(self.db.execute_read("SELECT 1 FROM journal WHERE op = ?", (self.op,)))

    def entries(self, parse: Callable[[Mapping[str, Any]], R]) -> list[JournalEntry[R]]:
        """Every row's record, oldest first; see the module docstring for records that do not read."""
        rows = self.db.execute_read(
            "SELECT key, step, data_json FROM journal WHERE op = ? ORDER BY id", (self.op,)
        )
        found: list[JournalEntry[R]] = []
        for row in rows:
            key = str(row["key"])
            try:
                data = json.loads(row["data_json"])
                if not isinstance(data, dict):
                    raise RecordError("not an object")
                found.append(JournalEntry(key, str(row["step"]), parse(data)))
            except NewerRecord as exc:
                log.warning("model library: leaving journal row %s/%s alone: %s", self.op, key, exc)
            except ValueError as exc:  # bad JSON or a RecordError
                log.warning("model library: discarding unreadable journal row %s/%s: %s", self.op, key, exc)
                self.delete(key)
        return found
