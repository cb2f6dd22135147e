"""The adoption journal: rows of the ``journal`` table (op ``adopt`` / ``adopt-undo``), keyed by path.

A row is committed before the first change it covers and deleted in the transaction that records the
outcome, so after ``kill -9`` a leftover row names exactly the paths a run may have left half done. Temp
names are recorded before they are created, so recovery removes only names we made.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..catalog.db import Database
from ..models import utcnow

ADOPT_OP = "adopt"
UNDO_OP = "adopt-undo"


@dataclass(frozen=True)
class JournalEntry:
    op: str
    key: str
    step: str
    data: dict[str, Any]


class AdoptJournal:
    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, op: str, key: str, step: str, data: dict[str, Any]) -> None:
        """Insert or update one row, durably (its own transaction unless the caller holds one)."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO journal(op, key, step, data_json, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(op, key) DO UPDATE SET step=excluded.step, data_json=excluded.data_json",
                (op, key, step, json.dumps(data), utcnow()),
            )

    def delete(self, op: str, key: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM journal WHERE op = ? AND key = ?", (op, key))

    def entries(self, op: str, install_id: str | None = None) -> list[JournalEntry]:
        rows = self.db.execute_read(
            "SELECT op, key, step, data_json FROM journal WHERE op = ? ORDER BY id", (op,)
        )
        found = [_entry(r) for r in rows]
        if install_id is None:
            return found
        return [e for e in found if e.data.get("install") == install_id]


def _entry(row: sqlite3.Row) -> JournalEntry:
    try:
        data = json.loads(row["data_json"])
    except ValueError:
        data = {}
    return JournalEntry(row["op"], row["key"], row["step"], data if isinstance(data, dict) else {})


def discard_temp(path: str) -> bool:
    """Remove a temp name recorded in the journal (ours by construction); never a folder."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True
