"""The record of every link we made (table ``links``) and of the app installs we map into (``apps``).

Register and unregister inside the caller's transaction when the decision and the record must agree:
``Database.transaction()`` is re-entrant on one thread, so these methods join an open transaction.

Both tables are also kept on disk (``records/files.py``), so a lost catalog gets them back: the installs
in ``records/installs.json``, the links in one file per install, ``records/links/<install-id>.json``,
rewritten from the table once per call (a mapping batch of 1,000 links writes one file, not 1,000).
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.bulk import insert_rows
from ..catalog.db import Database
from ..models import utcnow
from ..records.files import (
    InstallEntry,
    InstallsRecord,
    LinkEntry,
    LinksRecord,
    installs_path,
    links_dir,
    links_path,
    links_shard,
    records_dir,
    remove_record,
    write_record,
    write_records,
)

_LINK_COLUMNS = (
    "model_id, file_path, link_path, kind, relative, target, inode, device, app_id, link_root, category, "
    "purpose, created_at"
)

_INSERT_LINK = f"INSERT INTO links({_LINK_COLUMNS})"
_LINK_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
_ON_LINK_CONFLICT = (
    "ON CONFLICT(link_path) DO UPDATE SET model_id=excluded.model_id, file_path=excluded.file_path, "
    "kind=excluded.kind, relative=excluded.relative, target=excluded.target, "
    "inode=excluded.inode, device=excluded.device, app_id=excluded.app_id, "
    "link_root=excluded.link_root, category=excluded.category, purpose=excluded.purpose, "
    "created_at=excluded.created_at"
)


# The columns of a LinkEntry (records/kinds.py), in its field order.
_ENTRY_COLUMNS = (
    "model_id, file_path, link_path, kind, relative, target, link_root, category, inode, device, "
    "purpose, created_at"
)


@dataclass(frozen=True)
class LinkRecord:
    model_id: str
    file_path: str  # the model file, relative to the model's folder
    link_path: str  # absolute
    kind: str  # symlink | hardlink | copy
    relative: bool
    target: str  # absolute path of the library file at creation
    link_root: str
    app_id: str | None = None
    category: str = ""
    inode: int | None = None
    device: int | None = None
    purpose: str = "mapping"
    created_at: str = ""

    def _params(self) -> tuple[Any, ...]:
        return (
            self.model_id,
            self.file_path,
            self.link_path,
            self.kind,
            int(self.relative),
            self.target,
            self.inode,
            self.device,
            self.app_id,
            self.link_root,
            self.category,
            self.purpose,
            self.created_at or utcnow(),
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LinkRecord:
        return cls(
            model_id=row["model_id"],
            file_path=row["file_path"],
            link_path=row["link_path"],
            kind=row["kind"],
            relative=bool(row["relative"]),
            target=row["target"],
            link_root=row["link_root"],
            app_id=row["app_id"],
            category=row["category"],
            inode=row["inode"],
            device=row["device"],
            purpose=row["purpose"],
            created_at=row["created_at"],
        )

    @classmethod
    def from_entry(cls, entry: LinkEntry, app_id: str | None) -> LinkRecord:
        return cls(
            entry.model_id,
            entry.file_path,
            entry.link_path,
            entry.kind,
            entry.relative,
            entry.target,
            entry.link_root,
            app_id,
            entry.category,
            entry.inode,
            entry.device,
            entry.purpose,
            entry.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "file_path": self.file_path,
            "path": self.link_path,
            "kind": self.kind,
            "relative": self.relative,
            "target": self.target,
            "app_id": self.app_id,
            "category": self.category,
        }


RecordsKey = tuple[str | None, str]  # (install, shard): one records file of links

# Records files whose writing waits for the end of a ``records_at_end`` block, by catalog (one block at a
# time per catalog: a mapping apply runs under the host's remap lock or a CLI command).
_DEFERRED: dict[Path, set[tuple[str | None, str]]] = {}
_SHARDS_PER_QUERY = 16  # more shards of one install than this are read in one pass over its links
_DEFERRED_LOCK = threading.Lock()  # another thread's change during the block joins it, never gets lost


class LinkRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register_many(self, records: Iterable[LinkRecord]) -> int:
        records = list(records)
        if not records:
            return 0
        with self.db.transaction() as conn:
            self._save(conn, self.register_rows(records))
        return len(records)

    def register_rows(self, records: Sequence[LinkRecord]) -> set[RecordsKey]:
        """``register_many``'s rows without its records files, in the caller's transaction (or one of its
        own); returns the files the rows belong in, which the caller writes with ``save_records_of``.

        Until then only the table knows these links, so the caller keeps what recovery needs to register
        them again (adoption keeps its ``linking`` rows): a long adoption registers each group's links as
        it goes, and writes the records files, which hold every link of the install, once at the end."""
        if not records:
            return set()
        with self.db.transaction() as conn:
            keys = self._keys_of(conn, [r.link_path for r in records])
            keys |= {(r.app_id, links_shard(r.model_id)) for r in records}
            # Multi-row statements: a group's links give up the GIL a few times, not once a link.
            insert_rows(conn, _INSERT_LINK, _LINK_ROW, [r._params() for r in records], _ON_LINK_CONFLICT)
        return keys

    def save_records_of(self, keys: Iterable[RecordsKey]) -> None:
        """Write these records files from the table (what ``register_rows`` left to the caller), now:
        not deferred to the end of another thread's ``records_at_end`` block, since the caller forgets
        what it registered as soon as this returns."""
        with self.db.transaction() as conn:
            self._save(conn, keys, now=True)

    def unregister_rows(self, link_paths: Sequence[str]) -> set[RecordsKey]:
        """``unregister_many``'s rows without its records files (the files returned, as ``register_rows``)."""
        if not link_paths:
            return set()
        with self.db.transaction() as conn:
            keys = self._keys_of(conn, link_paths)
            conn.executemany("DELETE FROM links WHERE link_path = ?", [(p,) for p in link_paths])
        return keys

    def save_install_records(self, app_id: str | None, also: Iterable[RecordsKey] = ()) -> None:
        """Write every records file of one install from the table, and ``also`` these (a file whose last
        link ``unregister_rows`` took is not among the install's any more): recovery after
        ``register_rows``."""
        with self.db.transaction() as conn:
            self._save(conn, self._shards_of(conn, app_id) | set(also), now=True)

    def register(self, record: LinkRecord) -> None:
        self.register_many([record])

    def unregister_many(self, link_paths: Iterable[str]) -> int:
        paths = list(link_paths)
        if not paths:
            return 0
        with self.db.transaction() as conn:
            self._save(conn, self.unregister_rows(paths))
        return len(paths)

    def unregister(self, link_path: str) -> None:
        self.unregister_many([link_path])

    def find(self, link_path: str) -> LinkRecord | None:
        rows = self.db.execute_read("SELECT * FROM links WHERE link_path = ?", (link_path,))
        return LinkRecord.from_row(rows[0]) if rows else None

    def find_many(self, link_paths: Sequence[str]) -> dict[str, LinkRecord]:
        found: dict[str, LinkRecord] = {}
        for start in range(0, len(link_paths), 500):
            chunk = list(link_paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute_read(
                f"SELECT * FROM links WHERE link_path IN ({marks})",  # noqa: S608 - only placeholders
                tuple(chunk),
            ):
                record = LinkRecord.from_row(row)
                found[record.link_path] = record
        return found

    def by_model(self, model_id: str) -> list[LinkRecord]:
        rows = self.db.execute_read("SELECT * FROM links WHERE model_id = ? ORDER BY link_path", (model_id,))
        return [LinkRecord.from_row(r) for r in rows]

    def has_links(self, model_id: str, purpose: str | None = None) -> bool:
        """Whether the model has links (of this purpose: ``mapping`` or ``adopt``)."""
        rows = self.db.execute_read(
            "SELECT 1 FROM links WHERE model_id = ? AND (? IS NULL OR purpose = ?) LIMIT 1",
            (model_id, purpose, purpose),
        )
        return bool(rows)

    def move_model(self, conn: sqlite3.Connection, old_id: str, new_id: str) -> None:
        """A model's id changed (hashing re-keyed a source model, or merged it into another): its links
        follow, in the table and in the records files (which are kept in shards by model id), inside the
        caller's transaction."""
        apps = [r[0] for r in conn.execute("SELECT DISTINCT app_id FROM links WHERE model_id = ?", (old_id,))]
        if not apps:
            return
        conn.execute("UPDATE links SET model_id = ? WHERE model_id = ?", (new_id, old_id))
        self._save(conn, {(app, links_shard(m)) for app in apps for m in (old_id, new_id)})

    def by_app(self, app_id: str) -> list[LinkRecord]:
        rows = self.db.execute_read("SELECT * FROM links WHERE app_id = ? ORDER BY link_path", (app_id,))
        return [LinkRecord.from_row(r) for r in rows]

    def categories(self, app_id: str, purpose: str) -> set[str]:
        """The categories an install's links of one purpose use (one indexed query, no records read)."""
        rows = self.db.execute_read(
            "SELECT DISTINCT category FROM links WHERE app_id = ? AND purpose = ? AND category != ''",
            (app_id, purpose),
        )
        return {str(r[0]) for r in rows}

    def all(self) -> list[LinkRecord]:
        return [
            LinkRecord.from_row(r) for r in self.db.execute_read("SELECT * FROM links ORDER BY link_path")
        ]

    # -- records on disk -----------------------------------------------------------------------------
    @staticmethod
    def _keys_of(conn: sqlite3.Connection, link_paths: Sequence[str]) -> set[tuple[str | None, str]]:
        """The (install, shard) files these links are kept in (as registered now)."""
        keys: set[tuple[str | None, str]] = set()
        for start in range(0, len(link_paths), 500):
            chunk = list(link_paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            keys.update(
                (app_id, links_shard(model_id))
                for app_id, model_id in conn.execute(
                    f"SELECT DISTINCT app_id, model_id FROM links WHERE link_path IN ({marks})",  # noqa: S608
                    chunk,
                )
            )
        return keys

    @contextmanager
    def records_at_end(self) -> Iterator[None]:
        """Within the block, the records files the registry's changes touch are written once, at its
        end (a mapping apply of 10,000 links in batches touches every shard in every batch). A crash
        inside the block leaves the records behind the table; a restore re-checks links on disk and
        finds view links in their folders."""
        with _DEFERRED_LOCK:
            nested = self.db.path in _DEFERRED
            if not nested:
                _DEFERRED[self.db.path] = set()
        if nested:
            yield
            return
        try:
            yield
        finally:
            with _DEFERRED_LOCK:
                keys = _DEFERRED.pop(self.db.path)
            if keys:
                with self.db.transaction() as conn:
                    self._save(conn, keys)

    def _save(self, conn: sqlite3.Connection, keys: Iterable[RecordsKey], *, now: bool = False) -> None:
        """Rewrite the given shard files of each install from the table, as this transaction leaves it
        (at the end of a ``records_at_end`` block instead, unless ``now``). An install still in version
        1's single file is written out whole, in shards, once."""
        with _DEFERRED_LOCK:
            deferred = None if now else _DEFERRED.get(self.db.path)
            if deferred is not None:
                deferred.update(keys)
                return
        folder = records_dir(self.db.path)
        wanted = set(keys)
        for app_id in {app for app, _ in wanted}:
            legacy = links_path(folder, app_id)
            if legacy.exists():
                wanted |= self._shards_of(conn, app_id)
        writes: list[tuple[Path, LinksRecord]] = []
        for app_id in sorted({app for app, _ in wanted}, key=lambda a: a or ""):
            shards = sorted(shard for app, shard in wanted if app == app_id)
            for shard, rows in self._shard_rows(conn, app_id, shards):
                entries = tuple(LinkEntry.of_row(row) for row in rows if links_shard(row[0]) == shard)
                path = links_dir(folder, app_id) / f"{shard}.json"
                if entries:
                    writes.append((path, LinksRecord(app_id, entries)))
                else:
                    remove_record(path)
        write_records(writes)  # synced together: a batch of links touches many shards
        for app_id in {app for app, _ in wanted}:
            remove_record(links_path(folder, app_id))  # version 1's single file, now in shards

    @staticmethod
    def _shard_rows(
        conn: sqlite3.Connection, app_id: str | None, shards: list[str]
    ) -> Iterator[tuple[str, Iterable[tuple[Any, ...]]]]:
        """Each shard's rows of one install, in link_path order, as plain tuples in LinkEntry's order."""
        cursor = conn.cursor()
        cursor.row_factory = None  # plain tuples in LinkEntry's field order: half the cost of rows
        if len(shards) > _SHARDS_PER_QUERY:
            # Most of the install's shards (a batch of links): one pass over its rows, not one per shard.
            cursor.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM links WHERE app_id IS ? ORDER BY link_path",  # noqa: S608
                (app_id,),
            )
            buckets: dict[str, list[tuple[Any, ...]]] = {shard: [] for shard in shards}
            for row in cursor:
                bucket = buckets.get(links_shard(row[0]))
                if bucket is not None:
                    bucket.append(row)
            yield from buckets.items()
            return
        for shard in shards:
            if shard == "__":
                cursor.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM links WHERE app_id IS ? ORDER BY link_path",  # noqa: S608
                    (app_id,),
                )
            else:  # the shard's rows only (filtered in SQLite: no Python object for the others)
                cursor.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM links WHERE app_id IS ? "  # noqa: S608
                    "AND substr(lower(model_id), 1, 2) = ? ORDER BY link_path",
                    (app_id, shard),
                )
            yield shard, cursor.fetchall()

    @staticmethod
    def _shards_of(conn: sqlite3.Connection, app_id: str | None) -> set[tuple[str | None, str]]:
        rows = conn.execute("SELECT DISTINCT model_id FROM links WHERE app_id IS ?", (app_id,))
        return {(app_id, links_shard(r[0])) for r in rows}

    def save_records(self) -> None:
        """Rewrite every install's links files (after a bulk change of stored paths: a moved library)."""
        with self.db.transaction() as conn:
            keys: set[tuple[str | None, str]] = set()
            for (app_id,) in conn.execute("SELECT DISTINCT app_id FROM links").fetchall():
                keys |= self._shards_of(conn, app_id)
            self._save(conn, keys)


@dataclass(frozen=True)
class AppRecord:
    id: str
    root: str
    version: str
    mode: str  # view | direct
    kind: str = "comfyui"
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "root": self.root,
            "version": self.version,
            "mode": self.mode,
        }


class AppRegistry:
    """App installs we map into: one row per ComfyUI folder."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(self, app: AppRecord) -> AppRecord:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO apps(id, kind, root, version, mode, created_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET root=excluded.root, version=excluded.version, "
                "mode=excluded.mode",
                (app.id, app.kind, app.root, app.version, app.mode, app.created_at or utcnow()),
            )
            self._save(conn)
        found = self.get(app.id)
        assert found is not None
        return found

    def get(self, app_id: str) -> AppRecord | None:
        rows = self.db.execute_read("SELECT * FROM apps WHERE id = ?", (app_id,))
        return _app(rows[0]) if rows else None

    def all(self) -> list[AppRecord]:
        return [_app(r) for r in self.db.execute_read("SELECT * FROM apps ORDER BY root")]

    def remove(self, app_id: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM apps WHERE id = ?", (app_id,))  # its links go with it (cascade)
            self._save(conn)
            remove_record(links_path(records_dir(self.db.path), app_id))
            shutil.rmtree(links_dir(records_dir(self.db.path), app_id), ignore_errors=True)

    def restore(self, apps: Iterable[AppRecord]) -> list[AppRecord]:
        """Insert the installs the catalog does not know (a rebuild); -> those inserted."""
        added: list[AppRecord] = []
        with self.db.transaction() as conn:
            for app in apps:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO apps(id, kind, root, version, mode, created_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (app.id, app.kind, app.root, app.version, app.mode, app.created_at or utcnow()),
                )
                if cur.rowcount:
                    added.append(app)
            if added:
                self._save(conn)
        return added

    def save_records(self) -> None:
        with self.db.transaction() as conn:
            self._save(conn)

    def _save(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute("SELECT * FROM apps ORDER BY id").fetchall()
        entries = tuple(
            InstallEntry(r["id"], r["root"], r["version"], r["mode"], r["kind"], r["created_at"])
            for r in rows
        )
        write_record(installs_path(records_dir(self.db.path)), InstallsRecord(entries))


def _app(row: sqlite3.Row) -> AppRecord:
    return AppRecord(
        id=row["id"],
        root=row["root"],
        version=row["version"],
        mode=row["mode"],
        kind=row["kind"],
        created_at=row["created_at"],
    )
