"""The one owner of the ``pending_lookups`` table: Hub lookups waiting for the network, and their record
(``records/pending_lookups.json``), rewritten inside every transaction that changes the table.

Used by the hub service (queue, retry, clear), by the sources' registry when hashing gives a model its
content id, and by a rebuild (restore). Below all three, so none imports another for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..catalog.db import Database
from ..catalog.repository import ModelRepository
from ..models import utcnow
from .files import (
    PendingLookupEntry,
    PendingLookupsRecord,
    pending_lookups_path,
    read_record,
    records_dir,
    write_record,
)

REASON_MAX = 500


class PendingLookups:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads ---------------------------------------------------------------------------------------
    def all(self) -> list[dict[str, Any]]:
        rows = self.db.execute_read("SELECT model_id, reason, attempts, next_at FROM pending_lookups")
        return [dict(r) for r in rows]

    def due(self, now: str) -> list[str]:
        """The models whose lookup is due at ``now`` (an ISO time, as stored)."""
        rows = self.db.execute_read("SELECT model_id FROM pending_lookups WHERE next_at <= ?", (now,))
        return [r["model_id"] for r in rows]

    # -- changes (each in its own transaction, the record rewritten inside it) -------------------------
    def queue(self, model_ids: Sequence[str], reason: str) -> None:
        """Lookups to run later; a model already waiting keeps its place."""
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_lookups (model_id, reason, attempts, next_at) "
                "VALUES (?, ?, 0, ?)",
                [(i, reason[:REASON_MAX], utcnow()) for i in model_ids],
            )
            self._save(conn)

    def failed(self, model_id: str, reason: str, next_at: str) -> None:
        """A lookup could not run (offline, rate limited): try again at ``next_at``."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO pending_lookups (model_id, reason, attempts, next_at) VALUES (?, ?, 1, ?) "
                "ON CONFLICT(model_id) DO UPDATE SET reason = excluded.reason, attempts = attempts + 1, "
                "next_at = excluded.next_at",
                (model_id, reason[:REASON_MAX], next_at),
            )
            self._save(conn)

    def clear(self, model_id: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM pending_lookups WHERE model_id = ?", (model_id,)).rowcount:
                self._save(conn)

    # -- inside a caller's transaction ---------------------------------------------------------------
    @staticmethod
    def waiting(conn: sqlite3.Connection, model_id: str) -> bool:
        row = conn.execute("SELECT 1 FROM pending_lookups WHERE model_id = ?", (model_id,)).fetchone()
        return row is not None

    def follow(self, conn: sqlite3.Connection, old_id: str, new_id: str, *, was_waiting: bool) -> None:
        """A model's id changed (hashing re-keyed it, or merged it into another): its lookup follows.
        ``was_waiting`` is asked before the change, since the catalog's foreign keys already carry (or
        drop) the row along with the model's id, and nothing afterwards shows that it moved."""
        conn.execute("UPDATE OR IGNORE pending_lookups SET model_id = ? WHERE model_id = ?", (new_id, old_id))
        if was_waiting:
            self._save(conn)

    def restore(self) -> int:
        """Put back the recorded lookups of models the catalog knows (a rebuild). -> how many."""
        record = read_record(pending_lookups_path(records_dir(self.db.path)), PendingLookupsRecord)
        if record is None or not record.lookups:
            return 0
        with self.db.transaction() as conn:
            known = ModelRepository(self.db).in_place.existing_ids(conn, [e.model_id for e in record.lookups])
            added = 0
            for e in record.lookups:
                if e.model_id not in known:
                    continue  # removed since, or a source model not hashed again yet
                added += conn.execute(
                    "INSERT OR IGNORE INTO pending_lookups (model_id, reason, attempts, next_at) "
                    "VALUES (?, ?, ?, ?)",
                    (e.model_id, e.reason[:REASON_MAX], e.attempts, e.next_at),
                ).rowcount
            self._save(conn)
        return added

    def save_record(self) -> None:
        """Write the record from the table (a catalog from before records/)."""
        with self.db.transaction() as conn:
            self._save(conn)

    def _save(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute(
            "SELECT model_id, reason, attempts, next_at FROM pending_lookups ORDER BY model_id"
        ).fetchall()
        entries = tuple(PendingLookupEntry(r[0], r[1], r[2], r[3]) for r in rows)
        write_record(pending_lookups_path(records_dir(self.db.path)), PendingLookupsRecord(entries))
