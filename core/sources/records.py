"""The sources' records on disk (``records/sources.json``, ``records/sources/<key>.json``): written from
the ``sources`` and ``source_files`` tables inside the transaction that changed them, and read back into
them by a rebuild. Only ``SourceRegistry`` calls these (it owns both tables)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..catalog.db import Database
from ..models import utcnow
from ..records.files import (
    SourceEntry,
    SourceFileEntry,
    SourceFilesRecord,
    SourcesRecord,
    records_dir,
    remove_record,
    source_files_path,
    sources_path,
    write_record,
)

if TYPE_CHECKING:
    from ..catalog.store import InPlaceModels


_NO_TIMES = ("", "")


def save_sources(db: Database, conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT * FROM sources ORDER BY id").fetchall()
    entries = tuple(
        SourceEntry(r["id"], r["path"], bool(r["read_only"]), bool(r["auto"]), r["app_id"], r["added_at"])
        for r in rows
    )
    write_record(sources_path(records_dir(db.path)), SourcesRecord(entries))


def save_file_records(
    db: Database,
    conn: sqlite3.Connection,
    source_ids: Iterable[int],
    models: InPlaceModels[sqlite3.Connection],
) -> None:
    """Per source: every hashed file (with its hashes) and every file of a removed model (``ignored``),
    keyed by (path, size, mtime, inode), with the listing times of its model. One file per source,
    rewritten whole."""
    folder = records_dir(db.path)
    for source_id in sorted(set(source_ids)):
        source = conn.execute("SELECT path FROM sources WHERE id = ?", (source_id,)).fetchone()
        if source is None:
            continue
        times = models.source_times(conn, source_id)
        cursor = conn.cursor()
        cursor.row_factory = None
        cursor.execute(
            "SELECT path, size, mtime_ns, inode, blake3, sha256, state = 'ignored', model_id "
            "FROM source_files WHERE source_id = ? AND (blake3 IS NOT NULL OR state = 'ignored') "
            "ORDER BY path",
            (source_id,),
        )
        files = tuple(
            SourceFileEntry(path, size, mtime, inode, b3, sha, bool(ignored), *times.get(model_id, _NO_TIMES))
            for path, size, mtime, inode, b3, sha, ignored, model_id in cursor
        )
        write_record(source_files_path(folder, source[0]), SourceFilesRecord(source[0], files))


def prune_file_records(db: Database, conn: sqlite3.Connection) -> None:
    """Remove the file records of folders that are no longer sources (a source moved to a new path)."""
    folder = source_files_path(records_dir(db.path), "/x").parent
    keep = {source_files_path(folder.parent, r[0]).name for r in conn.execute("SELECT path FROM sources")}
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.endswith(".json") and name not in keep:
            remove_record(folder / name)


def restore_sources(
    db: Database, conn: sqlite3.Connection, entries: Iterable[SourceEntry]
) -> list[sqlite3.Row]:
    """Insert the sources the table lacks, with their recorded ids where free. -> the rows inserted."""
    added: list[sqlite3.Row] = []
    for e in entries:
        taken = conn.execute("SELECT 1 FROM sources WHERE id = ?", (e.id,)).fetchone() is not None
        cur = conn.execute(
            "INSERT OR IGNORE INTO sources (id, path, read_only, auto, app_id, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                None if taken else e.id,
                e.path,
                int(e.read_only),
                int(e.auto),
                e.app_id,
                e.added_at or utcnow(),
            ),
        )
        if cur.rowcount:
            added.append(conn.execute("SELECT * FROM sources WHERE path = ?", (e.path,)).fetchone())
    if added:
        save_sources(db, conn)
    return added


def restore_files(
    conn: sqlite3.Connection, source_id: int, files: Iterable[SourceFileEntry]
) -> dict[str, tuple[str, str]]:
    """Hashes back onto the files unchanged since they were hashed; removed models' files hidden again.
    -> the models whose files changed (to settle, or to drop when left without a file), with the
    (added_at, updated_at) their files' record gives (empty when it gives none)."""
    known = {f.key(): f for f in files}
    if not known:
        return {}
    hashed: list[tuple[str, str, str, int]] = []
    ignored: list[tuple[int]] = []
    touched: dict[str, tuple[str, str]] = {}
    now = utcnow()
    rows = conn.execute(
        "SELECT id, path, size, mtime_ns, inode, model_id FROM source_files WHERE source_id = ? "
        "AND state = 'present'",
        (source_id,),
    ).fetchall()
    for row in rows:
        entry = known.get((row["path"], row["size"], row["mtime_ns"], row["inode"]))
        if entry is None:
            continue
        if entry.ignored:
            ignored.append((row["id"],))
        elif entry.blake3 and entry.sha256:
            hashed.append((entry.blake3, entry.sha256, now, row["id"]))
        else:
            continue
        if row["model_id"]:
            times = touched.get(row["model_id"], ("", ""))
            if entry.added_at and not entry.ignored and (not times[0] or entry.added_at < times[0]):
                times = (entry.added_at, entry.updated_at)
            touched[row["model_id"]] = times
    conn.executemany("UPDATE source_files SET blake3 = ?, sha256 = ?, hashed_at = ? WHERE id = ?", hashed)
    conn.executemany("UPDATE source_files SET model_id = NULL, state = 'ignored' WHERE id = ?", ignored)
    return touched
