"""The SQLite catalog store: CRUD over models, their files, tags and origins (``CatalogStore`` in
``store.py``), with the models catalogued in place in ``in_place.py`` (``ModelRepository.in_place``).

Services see only ``Model`` values. Loading a page of models costs three queries (models, their files,
their tags), never one per model (``rows.hydrate``). Tags and files keep the order they were given in.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from ..errors import Conflict
from ..models import Model, ModelQuery, Page, utcnow
from .aside import ReadsAside
from .bulk import insert_rows, models_indexed_at_end, triggers_suspended
from .changes import changes_of
from .db import Database
from .facets import facet_counts
from .in_place import SqliteInPlaceModels
from .lookups import ModelLookups
from .refs import CANDIDATES, Lookups, like_pattern, not_found, resolve
from .rows import (
    INSERT_MODEL_HEAD,
    MODEL_ROW,
    check_origin_kind,
    check_values,
    chunks,
    hydrate,
    model_params,
    refresh_aliases,
    unique,
)
from .search import run_search
from .store import CatalogStore, Facets, InPlaceModels, Origin

BULK_CACHE_KIB = 256 * 1024
# Page cache of a reader that searches. 8 MiB measured as fast as 32 MiB at 100,000 models (misses are
# served by the OS page cache), and a host keeps up to four readers (core/catalog/db.py).
READ_CACHE_KIB = 8 * 1024


_INSERT_ORIGIN_HEAD = "INSERT OR IGNORE INTO model_origins (model_id, path, kind, recorded_at)"
_INSERT_ORIGIN = f"{_INSERT_ORIGIN_HEAD} VALUES (?, ?, ?, ?)"
# From this many models at once, ``add_many`` indexes them after inserting them, not row by row.
INDEX_AT_END_MODELS = 16
# All three: an update during a bulk load (aliases, say) must not touch index rows never written.
_FTS_TRIGGERS = (
    "models_ai",
    "models_ad",
    "models_au",
    "models_trigrams_ai",
    "models_trigrams_ad",
    "models_trigrams_au",
)
_FACETS = ("type", "base_model", "file_format", "security", "location")


class ModelRepository(ModelLookups):
    """The SQLite ``CatalogStore[sqlite3.Connection]``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._aside = ReadsAside(db)
        self.in_place: InPlaceModels[sqlite3.Connection] = SqliteInPlaceModels(db)

    # -- writes ----------------------------------------------------------------------------------------
    def add(self, model: Model, *, origin: tuple[str, str] | None = None) -> None:
        origins = {model.id: [(origin[0], origin[1], utcnow())]} if origin else {}
        self.add_many([model], origins=origins)

    def add_many(
        self, models: Iterable[Model], *, origins: Mapping[str, Sequence[Origin]] | None = None
    ) -> int:
        origins = origins or {}
        count = 0
        with self.db.transaction() as conn:
            for chunk in chunks(models, 500):
                self._check_new(conn, chunk)
                params = [model_params(m) for m in chunk]
                indexing = models_indexed_at_end(conn) if len(chunk) >= INDEX_AT_END_MODELS else nullcontext()
                with indexing:  # a multi-row insert gives up the GIL once a statement, not once a row
                    insert_rows(conn, INSERT_MODEL_HEAD, MODEL_ROW, params)
                insert_rows(
                    conn,
                    "INSERT INTO model_files (model_id, path, size, blake3, sha256)",
                    "(?, ?, ?, ?, ?)",
                    [(m.id, f.path, f.size, f.blake3, f.sha256) for m in chunk for f in m.files],
                )
                insert_rows(
                    conn,
                    "INSERT INTO tags (model_id, tag)",
                    "(?, ?)",
                    [(m.id, tag) for m in chunk for tag in unique(m.tags)],
                )
                rows = [(m.id, *o) for m in chunk for o in origins.get(m.id, ())]
                for _model_id, _path, kind, _at in rows:
                    check_origin_kind(kind)
                insert_rows(conn, _INSERT_ORIGIN_HEAD, "(?, ?, ?, ?)", rows)
                if rows:
                    refresh_aliases(conn, {r[0] for r in rows})
                count += len(chunk)
        return count

    def _check_new(self, conn: sqlite3.Connection, chunk: Sequence[Model]) -> None:
        ids = [m.id for m in chunk]
        blake3s = [m.hashes.blake3 for m in chunk]
        if len(set(ids)) != len(ids) or len(set(blake3s)) != len(blake3s):
            raise Conflict("The same model appears twice in one batch; add each model once.")
        marks = ",".join("?" * len(chunk))
        row = conn.execute(
            f"SELECT id, blake3 FROM models WHERE blake3 IN ({marks}) OR id IN ({marks}) LIMIT 1",
            (*blake3s, *ids),
        ).fetchone()
        if row is not None:
            raise Conflict(
                f"A model with the same content is already in the catalog as {row['id']} "
                f"(blake3 {row['blake3']}); it was not added again."
            )

    @contextmanager
    def content_lock(self, blake3: str) -> Iterator[None]:
        """Within this process; other processes on the machine meet at the catalog's unique hash (the
        importer's Conflict path keeps one model)."""
        with _hash_lock(blake3):
            yield

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """One write transaction for loading many rows (a rebuild): the FTS triggers are suspended and
        the index rebuilt once at the end, about twice as fast as row by row.

        The triggers and the index are restored even when the block fails, so an outer transaction
        that commits anyway still leaves the FTS index in step with the rows."""
        with self.db.transaction() as conn, triggers_suspended(conn, _FTS_TRIGGERS):
            (cache,) = conn.execute("PRAGMA cache_size").fetchone()
            conn.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
            try:
                yield
            finally:
                conn.execute("INSERT INTO models_fts(models_fts) VALUES ('rebuild')")
                conn.execute("INSERT INTO models_trigrams(models_trigrams) VALUES ('rebuild')")
                conn.execute(f"PRAGMA cache_size = {int(cache)}")

    def update(self, model_id: str, **fields: Any) -> Model:
        changes = changes_of(fields)
        columns = changes.columns
        with self.db.transaction() as conn:
            if changes.extras:  # the preview, sites and a newer version share one column
                row = conn.execute("SELECT extras_json FROM models WHERE id = ?", (model_id,)).fetchone()
                if row is None:
                    raise not_found(model_id)
                columns["extras_json"] = changes.merged_extras(row[0])
            assignments = ", ".join(f"{column} = ?" for column in columns)
            cursor = conn.execute(
                f"UPDATE models SET {assignments} WHERE id = ?",
                (*columns.values(), model_id),
            )
            if cursor.rowcount == 0:
                raise not_found(model_id)
            if changes.tags is not None:
                conn.execute("DELETE FROM tags WHERE model_id = ?", (model_id,))
                conn.executemany(
                    "INSERT INTO tags (model_id, tag) VALUES (?, ?)", [(model_id, t) for t in changes.tags]
                )
            return self.get(model_id)

    def delete(self, model_id: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM models WHERE id = ?", (model_id,)).rowcount == 0:
                raise not_found(model_id)

    def delete_all(self, *, location: str | None = None) -> int:
        """Delete every model (or every model at ``location``) with its files, tags and origins."""
        with self.db.transaction() as conn:
            if location is None:
                return int(conn.execute("DELETE FROM models").rowcount)
            check_values(location=location)
            return int(conn.execute("DELETE FROM models WHERE location = ?", (location,)).rowcount)

    def add_origin(self, model_id: str, path: str, kind: str) -> None:
        check_origin_kind(kind)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM models WHERE id = ?", (model_id,)).fetchone() is None:
                raise not_found(model_id)
            conn.execute(_INSERT_ORIGIN, (model_id, path, kind, utcnow()))
            refresh_aliases(conn, {model_id})

    # -- reads -----------------------------------------------------------------------------------------
    def origins(self, model_id: str) -> list[Origin]:
        rows = self.db.execute_read(
            "SELECT path, kind, recorded_at FROM model_origins WHERE model_id = ? ORDER BY id", (model_id,)
        )
        return [(r["path"], r["kind"], r["recorded_at"]) for r in rows]

    def resolve(self, ref: str, *, name_prefix: bool = False) -> Model:
        return resolve(ref, self._lookups, name_prefix=name_prefix)

    @property
    def _lookups(self) -> Lookups:
        limit = f"ORDER BY id LIMIT {CANDIDATES}"
        return Lookups(
            find=self.find,
            by_blake3=self.by_blake3,
            by_sha256=self.by_sha256,
            id_prefix=lambda p: self._select(f"WHERE id >= ? AND id < ? {limit}", (p, p + "~")),
            named=lambda name, nocase: self._select(
                f"WHERE name = ?{' COLLATE NOCASE' if nocase else ''} {limit}", (name,)
            ),
            # SQLite's LIKE ignores ASCII case, as the name index does
            name_start=lambda text: self._select(
                f"WHERE name LIKE ? ESCAPE '\\' ORDER BY name, id LIMIT {CANDIDATES}", (like_pattern(text),)
            ),
        )

    def count(self) -> int:
        return int(self.db.execute_read("SELECT count(*) FROM models")[0][0])

    def any_at(self, location: str) -> bool:
        return bool(self.db.execute_read("SELECT 1 FROM models WHERE location = ? LIMIT 1", (location,)))

    def iter_all(self, batch: int = 1000) -> Iterator[Model]:
        last = 0
        while True:
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT rowid AS rid, * FROM models WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, batch)
                ).fetchall()
                if not rows:
                    return
                models = hydrate(conn, rows)
            last = rows[-1]["rid"]
            yield from models

    def tag_counts(self) -> list[tuple[str, int]]:
        rows = self.db.execute_read("SELECT tag, count(*) AS n FROM tags GROUP BY tag ORDER BY n DESC, tag")
        return [(r["tag"], r["n"]) for r in rows]

    def facet_counts(self) -> dict[str, list[tuple[str, int]]]:
        """Counts per value of type, base_model, file_format, security and location (the panel's filters)."""
        facets: dict[str, list[tuple[str, int]]] = {}
        for column in _FACETS:
            rows = self.db.execute_read(
                f"SELECT {column} AS v, count(*) AS n FROM models GROUP BY {column} ORDER BY n DESC, v"
            )
            facets[column] = [(r["v"], r["n"]) for r in rows]
        return facets

    def facets(self, query: ModelQuery) -> Facets:
        """Counts per type and base model (each under the query's other filters), favourites, total."""
        with self.db.read() as conn:
            _ensure_read_cache(conn)
            return facet_counts(conn, query)

    def _select(self, where: str, params: tuple[object, ...]) -> list[Model]:
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT * FROM models {where}", params).fetchall()
            return hydrate(conn, rows)

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self, query: ModelQuery) -> Page:
        started = time.perf_counter()
        with self.db.read() as conn:
            _ensure_read_cache(conn)
            # Inside a write transaction another connection would not see its rows: no reads aside.
            result = run_search(conn, query, None if conn.in_transaction else self._aside)
            items = hydrate(conn, result.rows, with_metadata=False)
        return Page(tuple(items), result.total, (time.perf_counter() - started) * 1000, result.total_capped)


_HASH_LOCKS: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_HASH_LOCKS_GUARD = threading.Lock()


def _hash_lock(blake3: str) -> threading.Lock:
    with _HASH_LOCKS_GUARD:
        lock = _HASH_LOCKS.get(blake3)
        if lock is None:
            lock = _HASH_LOCKS[blake3] = threading.Lock()
        return lock


def _ensure_read_cache(conn: sqlite3.Connection) -> None:
    # Search joins FTS hits to wide model rows; SQLite's default 2 MiB page cache makes every other
    # lookup a read from the OS. Pages are allocated only as used.
    (size,) = conn.execute("PRAGMA cache_size").fetchone()
    if -READ_CACHE_KIB < size < 0 or 0 <= size < READ_CACHE_KIB // 4:
        conn.execute(f"PRAGMA cache_size = {-READ_CACHE_KIB}")


if TYPE_CHECKING:  # mypy proves the SQLite store implements the whole contract

    def _conforms(db: Database) -> CatalogStore[sqlite3.Connection]:
        return ModelRepository(db)
