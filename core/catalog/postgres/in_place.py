"""PostgreSQL ``InPlaceModels``: the model rows of folders catalogued in place, as the SQLite catalog's
(core/catalog/in_place.py, whose docstring tells the story). Each write that changes a searched column
(a walked file's name, a renamed file, a header's type or trigger words) rewrites those models' search
words through the store's ``index`` in the same transaction."""

# SQL here is assembled only from fixed fragments (column names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ...models import PENDING_PREFIX, utcnow
from ..settling import settle
from ..store import HeaderUpdate, HeldInPlace, ProvisionalFile, ProvisionalRow, Settled, Uninspected
from .database import Conn, PostgresDatabase
from .rows import refresh_aliases

Index = Callable[[Conn, Iterable[str]], None]


def _manual(field: str) -> str:
    """SQL true when the user set ``field`` by hand (``manual_fields`` is a JSON list of names)."""
    return f"position('\"{field}\"' in manual_fields) > 0"


class PostgresInPlaceModels:
    """``InPlaceModels[Conn]``."""

    def __init__(self, db: PostgresDatabase, index: Index) -> None:
        self.db = db
        self._index = index

    def existing_ids(self, tx: Conn, ids: Sequence[str]) -> set[str]:
        rows = tx.execute("SELECT id FROM models WHERE id = ANY(%s)", (list(ids),)).fetchall()
        return {r["id"] for r in rows}

    def insert_provisional(
        self, tx: Conn, rows: Sequence[ProvisionalRow], files: Sequence[ProvisionalFile]
    ) -> None:
        if not rows:
            return
        with tx.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, "
                "location, rel_dir, blake3, sha256, state, added_at, updated_at) VALUES "
                "(%s, %s, %s, 'unknown', %s, %s, 'unknown', %s, 'source', %s, %s, '', 'ready', %s, %s)",
                rows,
            )
            cursor.executemany(
                "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (%s, %s, %s, '', '')",
                files,
            )
        self._index(tx, [row[0] for row in rows])

    def refresh_provisional(self, tx: Conn, rows: Sequence[tuple[str, int, str, str]]) -> None:
        if rows:
            with tx.cursor() as cursor:
                cursor.executemany(
                    "UPDATE models SET type = %s, size = %s, state = 'ready', updated_at = %s "
                    "WHERE id = %s AND starts_with(blake3, %s)",
                    [(*row, PENDING_PREFIX) for row in rows],
                )
            self._index(tx, [row[3] for row in rows])

    def follow_rename(self, tx: Conn, model_id: str, old_path: str, new_path: str, name: str) -> None:
        model = tx.execute(
            "SELECT location, format, manual_fields FROM models WHERE id = %s FOR UPDATE", (model_id,)
        ).fetchone()
        if model is None or model["location"] != "source" or model["format"] != "single-file":
            return
        old, new = Path(old_path), Path(new_path)
        tx.execute(
            "UPDATE model_files SET path = %s WHERE model_id = %s AND path = %s",
            (new.name, model_id, old.name),
        )
        tx.execute("UPDATE models SET rel_dir = %s WHERE id = %s", (str(new.parent), model_id))
        if "name" not in model["manual_fields"]:
            tx.execute("UPDATE models SET name = %s WHERE id = %s", (name, model_id))
            self._index(tx, [model_id])

    def refresh_states(self, tx: Conn, model_ids: Iterable[str]) -> None:
        tx.execute(
            "UPDATE models SET state = CASE WHEN location = 'library' OR EXISTS (SELECT 1 FROM "
            "source_files WHERE model_id = models.id AND state = 'present') THEN 'ready' ELSE 'missing' "
            "END WHERE id = ANY(%s)",
            (list(model_ids),),
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
        return settle(tx.execute, provisional_id, blake3, sha256, file_hashes, mark="%s", lock=" FOR UPDATE")

    def drop_orphans(self, tx: Conn, model_ids: Sequence[str]) -> int:
        cursor = tx.execute(
            "DELETE FROM models m WHERE m.id = ANY(%s) AND m.location = 'source' AND NOT EXISTS "
            "(SELECT 1 FROM source_files f WHERE f.model_id = m.id)",
            (list(model_ids),),
        )
        return int(cursor.rowcount)

    def attach_library_copy(
        self, tx: Conn, model_id: str, rel_dir: str, files: Sequence[tuple[str, int, str, str]]
    ) -> None:
        tx.execute(
            "UPDATE models SET location = 'library', rel_dir = %s, state = 'ready', updated_at = %s "
            "WHERE id = %s",
            (rel_dir, utcnow(), model_id),
        )
        tx.execute("DELETE FROM model_files WHERE model_id = %s", (model_id,))
        with tx.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (%s, %s, %s, %s, %s)",
                [(model_id, *f) for f in files],
            )

    def restore_times(self, tx: Conn, model_id: str, added_at: str, updated_at: str) -> None:
        tx.execute(
            "UPDATE models SET added_at = %s, updated_at = %s WHERE id = %s AND location = 'source'",
            (added_at, updated_at, model_id),
        )

    def source_times(self, tx: Conn, source_id: int) -> dict[str, tuple[str, str]]:
        rows = tx.execute(
            "SELECT id, added_at, updated_at FROM models WHERE location = 'source' AND id IN "
            "(SELECT model_id FROM source_files WHERE source_id = %s)",
            (source_id,),
        ).fetchall()
        return {r["id"]: (r["added_at"], r["updated_at"]) for r in rows}

    def uninspected(self, limit: int) -> list[Uninspected]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT f.id, f.path, f.size, f.mtime_ns, f.inode, m.format, m.rel_dir, s.path AS root "
                "FROM source_files f JOIN models m ON m.id = f.model_id JOIN sources s ON s.id = f.source_id "
                "WHERE f.inspected = 0 AND f.state = 'present' LIMIT %s",
                (limit,),
            ).fetchall()
        return [Uninspected(*row.values()) for row in rows]

    def apply_headers(self, tx: Conn, updates: Sequence[HeaderUpdate]) -> None:
        if not updates:
            return
        file_ids = [u[9] for u in updates]
        touched = tx.execute(
            "SELECT model_id FROM source_files WHERE id = ANY(%s) AND model_id IS NOT NULL", (file_ids,)
        ).fetchall()
        words = _manual("trigger_words")
        with tx.cursor() as cursor:
            cursor.executemany(
                "UPDATE models SET "
                f"type = CASE WHEN {_manual('type')} THEN type ELSE COALESCE(%s, type) END, "
                f"base_model = CASE WHEN {_manual('base_model')} THEN base_model "
                "ELSE COALESCE(%s, base_model) END, "
                "file_format = %s, security = %s, metadata_json = %s, warnings_json = %s, "
                f"trigger_words_json = CASE WHEN {words} THEN trigger_words_json ELSE %s END, "
                f"trigger_text = CASE WHEN {words} THEN trigger_text ELSE %s END, "
                "updated_at = %s "
                "WHERE location = 'source' AND id = (SELECT model_id FROM source_files "
                "WHERE id = %s AND size = %s AND mtime_ns = %s AND inode = %s AND inspected = 0)",
                updates,
            )
        self._index(tx, [r["model_id"] for r in touched])

    def held_in_place(self) -> list[HeldInPlace]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT m.id, m.name, m.size, m.location, COUNT(f.id) AS copies FROM models m "
                "JOIN source_files f ON f.model_id = m.id AND f.state = 'present' "
                "WHERE NOT starts_with(m.blake3, %s) GROUP BY m.rowid",
                (PENDING_PREFIX,),
            ).fetchall()
        return [HeldInPlace(*row.values()) for row in rows]
