"""SQLite ``InPlaceModels``: the model rows of folders catalogued in place (see ``store.py``).

A source model appears as soon as its file is walked, with a provisional id and a placeholder hash
(``core/sources/registry.py``); once hashed it is re-keyed to its content id (foreign keys cascade to its
files, tags and origins) or merged into the model that holds the same bytes. Statements join
``source_files`` where a model's state or orphanhood depends on them; the sources own that table.
"""

# SQL here is assembled only from fixed fragments (placeholders); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..models import utcnow
from .bulk import insert_rows, models_indexed_at_end
from .db import Database
from .rows import refresh_aliases
from .settling import settle
from .store import HeaderUpdate, HeldInPlace, ProvisionalFile, ProvisionalRow, Settled, Uninspected

Conn = sqlite3.Connection


class SqliteInPlaceModels:
    """``InPlaceModels[sqlite3.Connection]``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def existing_ids(self, tx: Conn, ids: Sequence[str]) -> set[str]:
        existing: set[str] = set()
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            marks = ",".join("?" * len(chunk))
            existing.update(r[0] for r in tx.execute(f"SELECT id FROM models WHERE id IN ({marks})", chunk))
        return existing

    def insert_provisional(
        self, tx: Conn, rows: Sequence[ProvisionalRow], files: Sequence[ProvisionalFile]
    ) -> None:
        if not rows:
            return
        with models_indexed_at_end(tx):  # row by row through the triggers cost several times as much
            insert_rows(
                tx,
                "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, "
                "location, rel_dir, blake3, sha256, state, added_at, updated_at)",
                "(?, ?, ?, 'unknown', ?, ?, 'unknown', ?, 'source', ?, ?, '', 'ready', ?, ?)",
                rows,
            )
        insert_rows(
            tx,
            "INSERT INTO model_files (model_id, path, size, blake3, sha256)",
            "(?, ?, ?, '', '')",
            files,
        )

    def refresh_provisional(self, tx: Conn, rows: Sequence[tuple[str, int, str, str]]) -> None:
        if rows:
            tx.executemany(
                "UPDATE models SET type = ?, size = ?, state = 'ready', updated_at = ? "
                "WHERE id = ? AND blake3 LIKE 'pending:%'",
                rows,
            )

    def follow_rename(self, tx: Conn, model_id: str, old_path: str, new_path: str, name: str) -> None:
        model = tx.execute(
            "SELECT location, format, manual_fields FROM models WHERE id = ?", (model_id,)
        ).fetchone()
        if model is None or model["location"] != "source" or model["format"] != "single-file":
            return
        old, new = Path(old_path), Path(new_path)
        tx.execute(
            "UPDATE model_files SET path = ? WHERE model_id = ? AND path = ?", (new.name, model_id, old.name)
        )
        tx.execute("UPDATE models SET rel_dir = ? WHERE id = ?", (str(new.parent), model_id))
        if "name" not in model["manual_fields"]:
            tx.execute("UPDATE models SET name = ? WHERE id = ?", (name, model_id))

    def refresh_states(self, tx: Conn, model_ids: Iterable[str]) -> None:
        for model_id in model_ids:
            tx.execute(
                "UPDATE models SET state = CASE WHEN location = 'library' OR EXISTS (SELECT 1 FROM "
                "source_files WHERE model_id = models.id AND state = 'present') THEN 'ready' ELSE 'missing' "
                "END WHERE id = ?",
                (model_id,),
            )

    def refresh_aliases(self, tx: Conn, model_ids: Iterable[str]) -> None:
        refresh_aliases(tx, model_ids)

    def settle(
        self,
        tx: Conn,
        provisional_id: str,
        blake3: str,
        sha256: str,
        file_hashes: Mapping[str, tuple[str, str]],
    ) -> Settled | None:
        return settle(tx.execute, provisional_id, blake3, sha256, file_hashes)

    def drop_orphans(self, tx: Conn, model_ids: Sequence[str]) -> int:
        dropped = 0
        for model_id in model_ids:
            cur = tx.execute(
                "DELETE FROM models WHERE id = ? AND location = 'source' AND NOT EXISTS "
                "(SELECT 1 FROM source_files WHERE model_id = ?)",
                (model_id, model_id),
            )
            dropped += cur.rowcount
        return dropped

    def attach_library_copy(
        self, tx: Conn, model_id: str, rel_dir: str, files: Sequence[tuple[str, int, str, str]]
    ) -> None:
        tx.execute(
            "UPDATE models SET location = 'library', rel_dir = ?, state = 'ready', updated_at = ? "
            "WHERE id = ?",
            (rel_dir, utcnow(), model_id),
        )
        tx.execute("DELETE FROM model_files WHERE model_id = ?", (model_id,))
        tx.executemany(
            "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (?, ?, ?, ?, ?)",
            [(model_id, *f) for f in files],
        )

    def restore_times(self, tx: Conn, model_id: str, added_at: str, updated_at: str) -> None:
        tx.execute(
            "UPDATE models SET added_at = ?, updated_at = ? WHERE id = ? AND location = 'source'",
            (added_at, updated_at, model_id),
        )

    def source_times(self, tx: Conn, source_id: int) -> dict[str, tuple[str, str]]:
        cursor = tx.cursor()
        cursor.row_factory = None
        cursor.execute(
            "SELECT id, added_at, updated_at FROM models WHERE location = 'source' AND id IN "
            "(SELECT model_id FROM source_files WHERE source_id = ?)",
            (source_id,),
        )
        return {model_id: (added, updated) for model_id, added, updated in cursor}

    def uninspected(self, limit: int) -> list[Uninspected]:
        rows = self.db.execute_read(
            "SELECT f.id, f.path, f.size, f.mtime_ns, f.inode, m.format, m.rel_dir, s.path AS root "
            "FROM source_files f JOIN models m ON m.id = f.model_id JOIN sources s ON s.id = f.source_id "
            "WHERE f.inspected = 0 AND f.state = 'present' LIMIT ?",
            (limit,),
        )
        return [Uninspected(*row) for row in rows]

    def apply_headers(self, tx: Conn, updates: Sequence[HeaderUpdate]) -> None:
        tx.executemany(
            "UPDATE models SET "
            "type = CASE WHEN manual_fields LIKE '%\"type\"%' THEN type ELSE COALESCE(?, type) END, "
            "base_model = CASE WHEN manual_fields LIKE '%\"base_model\"%' THEN base_model "
            "ELSE COALESCE(?, base_model) END, "
            "file_format = ?, security = ?, metadata_json = ?, warnings_json = ?, "
            "trigger_words_json = CASE WHEN manual_fields LIKE '%\"trigger_words\"%' THEN trigger_words_json "
            "ELSE ? END, "
            "trigger_text = CASE WHEN manual_fields LIKE '%\"trigger_words\"%' THEN trigger_text ELSE ? END, "
            "updated_at = ? "
            "WHERE location = 'source' AND id = (SELECT model_id FROM source_files "
            "WHERE id = ? AND size = ? AND mtime_ns = ? AND inode = ? AND inspected = 0)",
            updates,
        )

    def held_in_place(self) -> list[HeldInPlace]:
        rows = self.db.execute_read(
            "SELECT m.id, m.name, m.size, m.location, COUNT(f.id) AS copies FROM models m "
            "JOIN source_files f ON f.model_id = m.id AND f.state = 'present' "
            "WHERE m.blake3 NOT LIKE 'pending:%' GROUP BY m.id"
        )
        return [HeldInPlace(*row) for row in rows]
