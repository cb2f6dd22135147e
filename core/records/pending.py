"""The pending lookups' record (``records/pending_lookups.json``), rewritten from the ``pending_lookups``
table inside the transaction that changed it: by the hub service, and by the sources' registry when a
model is re-keyed. Below both, so neither imports the other for it; read back by
``hub_service.restore_pending``.
"""

from __future__ import annotations

import sqlite3

from ..catalog.db import Database
from .files import PendingLookupEntry, PendingLookupsRecord, pending_lookups_path, records_dir, write_record


def save_pending_record(db: Database, conn: sqlite3.Connection) -> None:
    """Rewrite the pending lookups record from the table, inside the transaction that changed it."""
    rows = conn.execute(
        "SELECT model_id, reason, attempts, next_at FROM pending_lookups ORDER BY model_id"
    ).fetchall()
    entries = tuple(PendingLookupEntry(r[0], r[1], r[2], r[3]) for r in rows)
    write_record(pending_lookups_path(records_dir(db.path)), PendingLookupsRecord(entries))
