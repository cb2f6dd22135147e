"""SQL for folders catalogued in place: the ``sources`` and ``source_files`` tables.

A source model appears in the catalog as soon as its file is walked, before any hashing: it gets a
*provisional* id (``p`` + 15 hex digits derived from the file's device and inode, stable across renames)
and a placeholder content hash ``pending:<id>``. When the background hasher has read every file of the
model, the row is re-keyed to its content id (foreign keys cascade) or, when the same bytes are already a
model (in the library or another source), merged into it: one model, several locations. The model
rows themselves are the catalog store's (``InPlaceModels``, core/catalog/in_place.py); this module runs
SQL only on the sources' own tables.

What only this table knows is kept on disk too (``records/files.py``), so a lost catalog gets it back:
the sources in ``records/sources.json`` (written when one is added, removed or moved), and per source
the hashes of its files and the files whose model the user removed, keyed by (path, size, mtime, inode),
in ``records/sources/<key>.json`` (written at most every 10 s while hashing, when a pass ends and at
each removal): a rebuild rescans the folders and hashes nothing that did not change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..catalog.bulk import insert_rows
from ..catalog.db import Database
from ..catalog.in_place import SqliteInPlaceModels
from ..catalog.store import InPlaceModels
from ..errors import InvalidInput, NotFound
from ..links.registry import LinkRegistry
from ..models import utcnow
from ..records.files import SourceEntry, records_dir, remove_record, source_files_path
from ..records.pending import PendingLookups
from . import records
from .rows import FileRow, KnownFile, SourceRow, file_row, source_row


class SourceRegistry:
    """The sources' own tables; their models through the catalog store's ``InPlaceModels``."""

    def __init__(self, db: Database, models: InPlaceModels[sqlite3.Connection] | None = None) -> None:
        self.db = db
        self.models: InPlaceModels[sqlite3.Connection] = (
            models if models is not None else SqliteInPlaceModels(db)
        )
        self.links = LinkRegistry(db)
        self.pending = PendingLookups(db)

    # -- sources ---------------------------------------------------------------------------------------
    def add(self, path: Path, *, read_only: bool, auto: bool = False, app_id: str | None = None) -> SourceRow:
        with self.db.transaction() as conn:
            existing = conn.execute("SELECT * FROM sources WHERE path = ?", (str(path),)).fetchone()
            if existing is not None:
                return source_row(existing)
            conn.execute(
                "INSERT INTO sources (path, read_only, auto, app_id, added_at) VALUES (?, ?, ?, ?, ?)",
                (str(path), int(read_only), int(auto), app_id, utcnow()),
            )
            row = conn.execute("SELECT * FROM sources WHERE path = ?", (str(path),)).fetchone()
            records.save_sources(self.db, conn)
            return source_row(row)

    def all(self) -> list[SourceRow]:
        return [source_row(r) for r in self.db.execute_read("SELECT * FROM sources ORDER BY path")]

    def get(self, ref: str | int) -> SourceRow:
        rows = self.db.execute_read(
            "SELECT * FROM sources WHERE id = ? OR path = ?", (_as_int(ref), str(ref))
        )
        if not rows:
            raise NotFound(f"No source {ref!r}; `model-library sources list` shows the catalogued folders.")
        return source_row(rows[0])

    def stats(self) -> dict[int, dict[str, int]]:
        rows = self.db.execute_read(
            "SELECT source_id, COUNT(*) AS files, SUM(state = 'missing') AS missing, "
            "SUM(blake3 IS NULL AND state = 'present') AS unhashed, SUM(size) AS bytes "
            "FROM source_files GROUP BY source_id"
        )
        return {
            r["source_id"]: {
                "files": r["files"],
                "missing": r["missing"] or 0,
                "unhashed": r["unhashed"] or 0,
                "bytes": r["bytes"] or 0,
            }
            for r in rows
        }

    def set_state(self, source_id: int, state: str, *, scanned: bool = False) -> None:
        with self.db.transaction() as conn:
            if scanned:
                conn.execute(
                    "UPDATE sources SET state = ?, last_scan_at = ? WHERE id = ?",
                    (state, utcnow(), source_id),
                )
            else:
                conn.execute("UPDATE sources SET state = ? WHERE id = ?", (state, source_id))

    def remove(self, source_id: int) -> int:
        """Forget a source: its file rows, and provisional/source-only models left without a location."""
        with self.db.transaction() as conn:
            model_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT model_id FROM source_files WHERE source_id = ? AND model_id IS NOT NULL",
                    (source_id,),
                )
            ]
            path = conn.execute("SELECT path FROM sources WHERE id = ?", (source_id,)).fetchone()
            conn.execute("DELETE FROM source_files WHERE source_id = ?", (source_id,))
            conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
            records.save_sources(self.db, conn)
            if path is not None:
                remove_record(source_files_path(records_dir(self.db.path), path[0]))
            return self.models.drop_orphans(conn, model_ids)

    # -- records on disk (core/sources/records.py) ---------------------------------------------------
    def save_file_records(self, source_ids: Iterable[int], conn: sqlite3.Connection | None = None) -> None:
        """Rewrite the file record of each source: its hashed files and the files of removed models."""
        if conn is None:
            with self.db.transaction() as own:
                records.save_file_records(self.db, own, source_ids, self.models)
        else:
            records.save_file_records(self.db, conn, source_ids, self.models)

    def save_records(self) -> None:
        """Rewrite every source record (after a bulk change of stored paths: a source moved)."""
        with self.db.transaction() as conn:
            records.save_sources(self.db, conn)
            records.save_file_records(
                self.db, conn, [r[0] for r in conn.execute("SELECT id FROM sources")], self.models
            )
            records.prune_file_records(self.db, conn)

    def restore(self, entries: Iterable[SourceEntry]) -> list[SourceRow]:
        """Insert the sources the catalog does not know, with their ids (a rebuild); -> those inserted."""
        with self.db.transaction() as conn:
            return [source_row(row) for row in records.restore_sources(self.db, conn, entries)]

    # -- files ---------------------------------------------------------------------------------------
    def files(self, source_id: int) -> dict[str, KnownFile]:
        """Every file of a source by path, streamed from the cursor as plain tuples (no row list)."""
        with self.db.read() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None
            cursor.execute(
                "SELECT id, path, size, mtime_ns, inode, device, model_id, state FROM source_files "
                "WHERE source_id = ?",
                (source_id,),
            )
            return {row[1]: KnownFile(*row) for row in cursor}

    def files_of_model(self, model_id: str) -> list[FileRow]:
        rows = self.db.execute_read(
            "SELECT * FROM source_files WHERE model_id = ? ORDER BY path", (model_id,)
        )
        return [file_row(r) for r in rows]

    def unhashed(self, limit: int = 100, *, after: tuple[int, int] = (-1, -1)) -> list[FileRow]:
        """Files without hashes, by drive then id, from just past ``after`` (a row's (device, id)): a
        pass pages over the files it could not read instead of fetching them again and again."""
        rows = self.db.execute_read(
            "SELECT * FROM source_files WHERE blake3 IS NULL AND state = 'present' AND (device, id) > (?, ?) "
            "ORDER BY device, id LIMIT ?",
            (*after, limit),
        )
        return [file_row(r) for r in rows]

    def upsert_files(
        self,
        conn: sqlite3.Connection,
        source_id: int,
        entries: Iterable[tuple[dict[str, Any], str | None]],
    ) -> None:
        """Record each walked file (``entry``, the model it belongs to); a known path is reset to unhashed."""
        now = utcnow()
        insert_rows(
            conn,
            "INSERT INTO source_files (source_id, path, size, mtime_ns, inode, device, model_id, state, "
            "blake3, sha256, hashed_at, seen_at, inspected)",
            "(?, ?, ?, ?, ?, ?, ?, 'present', NULL, NULL, NULL, ?, 0)",
            [
                (source_id, e["path"], e["size"], e["mtime_ns"], e["inode"], e["device"], model_id, now)
                for e, model_id in entries
            ],
            "ON CONFLICT(path) DO UPDATE SET source_id = excluded.source_id, size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, inode = excluded.inode, device = excluded.device, "
            "model_id = excluded.model_id, state = 'present', blake3 = NULL, sha256 = NULL, "
            "hashed_at = NULL, seen_at = excluded.seen_at, inspected = 0",
        )

    def rename_file(self, conn: sqlite3.Connection, file_id: int, new_path: str) -> None:
        """A file renamed in its source: same model, new place (and a new name unless set by hand)."""
        row = conn.execute("SELECT path, model_id FROM source_files WHERE id = ?", (file_id,)).fetchone()
        conn.execute(
            "UPDATE source_files SET path = ?, state = 'present', seen_at = ? WHERE id = ?",
            (new_path, utcnow(), file_id),
        )
        if row is None or row["model_id"] is None:
            return
        from ..importer.plan import model_name_from_file

        name = model_name_from_file(Path(new_path).name)
        self.models.follow_rename(conn, row["model_id"], row["path"], new_path, name)

    def hide_model_files(self, conn: sqlite3.Connection, model_id: str) -> None:
        """A removed model's files catalogued in place stay where they are, hidden until they change."""
        sources = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT source_id FROM source_files WHERE model_id = ?", (model_id,)
            )
        ]
        conn.execute(
            "UPDATE source_files SET model_id = NULL, state = 'ignored' WHERE model_id = ?", (model_id,)
        )
        self.save_file_records(sources, conn)

    def mark_missing(self, conn: sqlite3.Connection, paths: Sequence[str]) -> list[str]:
        """Mark files missing (never drop them: an unmounted share must not empty the catalog)."""
        return self._set_file_state(conn, paths, "missing")

    def mark_present(self, conn: sqlite3.Connection, paths: Sequence[str]) -> list[str]:
        """Files back where they were, unchanged (a share mounted again): present, their models ready."""
        return self._set_file_state(conn, paths, "present")

    def _set_file_state(self, conn: sqlite3.Connection, paths: Sequence[str], state: str) -> list[str]:
        touched: set[str] = set()
        for start in range(0, len(paths), 500):
            chunk = list(paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            conn.execute(f"UPDATE source_files SET state = ? WHERE path IN ({marks})", (state, *chunk))  # noqa: S608
            touched.update(
                r[0]
                for r in conn.execute(
                    f"SELECT DISTINCT model_id FROM source_files WHERE path IN ({marks}) "  # noqa: S608
                    "AND model_id IS NOT NULL",
                    chunk,
                )
            )
        self.models.refresh_states(conn, touched)
        return sorted(touched)

    def record_hash(self, file_id: int, blake3: str, sha256: str, expected: FileRow) -> bool:
        """Store a file's hashes unless the row changed meanwhile (a rescan saw a new version)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE source_files SET blake3 = ?, sha256 = ?, hashed_at = ? WHERE id = ? AND size = ? "
                "AND mtime_ns = ? AND inode = ? AND path = ?",
                (
                    blake3,
                    sha256,
                    utcnow(),
                    file_id,
                    expected.size,
                    expected.mtime_ns,
                    expected.inode,
                    expected.path,
                ),
            )
            return cur.rowcount == 1

    # -- provisional models ---------------------------------------------------------------------------
    def settle_model(
        self, provisional_id: str, blake3: str, sha256: str, file_hashes: dict[str, tuple[str, str]]
    ) -> str:
        """All files hashed: re-key the provisional model to its content id, or merge it into the model
        that already holds these bytes. Returns the model id the files now belong to."""
        with self.db.transaction() as conn:
            waiting = self.pending.waiting(conn, provisional_id)  # before the catalog's foreign keys move it
            settled = self.models.settle(conn, provisional_id, blake3, sha256, file_hashes)
            if settled is None:
                return provisional_id
            target = settled.model_id
            conn.execute("UPDATE source_files SET model_id = ? WHERE model_id = ?", (target, provisional_id))
            self.links.move_model(conn, provisional_id, target)
            if settled.merged:
                self.models.refresh_states(conn, [target])
                self.models.refresh_aliases(conn, [target])  # findable by the name of its copy here too
            self.pending.follow(conn, provisional_id, target, was_waiting=waiting)
            return target

    def attach_library_copy(
        self, model_id: str, rel_dir: str, files: Sequence[tuple[str, int, str, str]]
    ) -> None:
        """A model known only in place (or whose library copy was lost) now has its bytes in the library
        at ``rel_dir``: it becomes a library model; its source locations stay recorded."""
        with self.db.transaction() as conn:
            self.models.attach_library_copy(conn, model_id, rel_dir, files)

    def locations(self, model_id: str) -> list[dict[str, Any]]:
        return [
            {"path": f.path, "state": f.state, "hashed": f.blake3 is not None}
            for f in self.files_of_model(model_id)
        ]

    def duplicates(self) -> dict[str, Any]:
        """Bytes held more than once: what adoption would free."""
        groups = []
        freeable = 0
        for r in self.models.held_in_place():
            extra = r.copies if r.location == "library" else r.copies - 1
            if extra <= 0:
                continue
            paths = [f.path for f in self.files_of_model(r.id) if f.state == "present"]
            groups.append(
                {
                    "id": r.id,
                    "name": r.name,
                    "size": r.size,
                    "copies": extra + 1,
                    "paths": paths,
                    "in_library": r.location == "library",
                }
            )
            freeable += extra * r.size
        return {"groups": groups, "bytes_freeable": freeable}


def _as_int(ref: str | int) -> int:
    try:
        return int(ref)
    except (TypeError, ValueError):
        return -1


def check_source_path(path: Path, library_root: Path) -> Path:
    """A source must be an existing folder, neither the library, nor inside it, nor holding it (every
    library model would be listed twice: once from the library, once found in the source)."""
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise InvalidInput(f"{path} is not a folder; give the folder that holds your models.")
    root = library_root.resolve()
    if resolved == root or root in resolved.parents:
        raise InvalidInput(
            f"{path} is inside the library ({root}); the library's own models are catalogued already."
        )
    if resolved in root.parents:
        raise InvalidInput(
            f"{path} holds the library ({root}), whose models are catalogued already; add the folders "
            "beside the library as sources instead, or move the library out of this folder."
        )
    return resolved
