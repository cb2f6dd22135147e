"""The PostgreSQL ``CatalogStore``: the same contract and conformance suite as the SQLite store
(core/catalog/repository.py), for a catalog several machines share.

Two machines may add the same bytes at the same moment: the check before the insert sees neither, so
the unique constraints decide and the loser gets the same ``Conflict`` a sequential second add gets.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from psycopg import errors as pg_errors

from ...errors import Conflict, InvalidInput
from ...models import Model, ModelQuery, Page, utcnow
from ..changes import changes_of
from ..lookups import ModelLookups
from ..refs import CANDIDATES, Lookups, like_pattern, not_found, resolve
from ..rows import check_origin_kind, check_values, chunks, model_params, unique
from ..store import CatalogStore, Facets, InPlaceModels, Origin
from .database import Conn, PostgresDatabase
from .rows import INSERT, INSERT_FILES, INSERT_TAGS, columns, hydrate, listed, refresh_aliases, reindex
from .search import facet_values, facets, run_search

_BULK_LOCK = 0x6D6C_6275_6C6B  # "mlbulk": one bulk load (a rebuild) at a time across machines
_INSERT_ORIGIN = (
    "INSERT INTO model_origins (model_id, path, kind, recorded_at) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (model_id, path) DO NOTHING"
)


def _refuse_nul(chunk: Sequence[Model], params: Sequence[tuple[object, ...]]) -> None:
    """PostgreSQL text cannot hold NUL ("\\x00"), which SQLite stores (an old metadata.json may): say which
    model holds one, before anything is sent."""
    for model, values in zip(chunk, params, strict=True):
        texts = [*values, *model.tags, *(f.path for f in model.files)]
        if any(isinstance(v, str) and "\x00" in v for v in texts):
            raise InvalidInput(
                f"The model {model.name!r} ({model.id}) holds a NUL character (\\x00) in a field, which the "
                "shared catalog cannot store; remove it from its metadata.json and try again."
            )


class PostgresCatalog(ModelLookups):
    """``CatalogStore[Conn]`` on PostgreSQL."""

    MARK = "%s"

    def __init__(self, db: PostgresDatabase) -> None:
        from .in_place import PostgresInPlaceModels  # the in-place half shares this store's indexing

        self.db = db
        self._bulk = threading.local()  # ids whose search words wait for the end of a bulk load
        self.closing: list[Callable[[], None]] = []  # closed with the store (the change feed)
        self.in_place: InPlaceModels[Conn] = PostgresInPlaceModels(db, self.index)

    # -- writes ----------------------------------------------------------------------------------------
    def index(self, conn: Conn, model_ids: Iterable[str]) -> None:
        """Rewrite these models' search words, or note them for the end of the bulk load under way."""
        pending: set[str] | None = getattr(self._bulk, "ids", None)
        if pending is not None:
            pending.update(model_ids)
        else:
            reindex(conn, model_ids)

    def add(self, model: Model, *, origin: tuple[str, str] | None = None) -> None:
        origins = {model.id: [(origin[0], origin[1], utcnow())]} if origin else {}
        self.add_many([model], origins=origins)

    def add_many(
        self, models: Iterable[Model], *, origins: Mapping[str, Sequence[Origin]] | None = None
    ) -> int:
        origins = origins or {}
        count = 0
        try:
            with self.db.transaction() as conn:
                if getattr(self._bulk, "ids", None) is None:
                    # A rebuild (bulk) on another machine empties and refills the rows: adds wait for it
                    # to commit, then find what it catalogued, rather than racing it.
                    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_BULK_LOCK,))
                for chunk in chunks(models, 500):
                    self._check_new(conn, chunk)
                    rows = [(m.id, *o) for m in chunk for o in origins.get(m.id, ())]
                    for _model_id, _path, kind, _at in rows:
                        check_origin_kind(kind)
                    params = [model_params(m) for m in chunk]
                    _refuse_nul(chunk, params)  # before any statement: the transaction stays usable
                    with conn.cursor() as cursor:
                        cursor.executemany(
                            INSERT, [(*listed(m), *p) for m, p in zip(chunk, params, strict=True)]
                        )
                        cursor.executemany(_INSERT_ORIGIN, rows)
                    files = [(m.id, f.path, f.size, f.blake3, f.sha256) for m in chunk for f in m.files]
                    conn.execute(INSERT_FILES, columns(files, 5))
                    conn.execute(INSERT_TAGS, columns([(m.id, t) for m in chunk for t in unique(m.tags)], 2))
                    refresh_aliases(conn, {r[0] for r in rows})
                    self.index(conn, [m.id for m in chunk])
                    count += len(chunk)
        except pg_errors.UniqueViolation as exc:  # another machine added the same bytes meanwhile
            raise Conflict(
                "A model with the same content was added to the catalog meanwhile (by another machine?); "
                f"it was not added again ({exc.diag.constraint_name})."
            ) from exc
        return count

    def _check_new(self, conn: Conn, chunk: Sequence[Model]) -> None:
        ids = [m.id for m in chunk]
        blake3s = [m.hashes.blake3 for m in chunk]
        if len(set(ids)) != len(ids) or len(set(blake3s)) != len(blake3s):
            raise Conflict("The same model appears twice in one batch; add each model once.")
        row = conn.execute(
            "SELECT id, blake3 FROM models WHERE blake3 = ANY(%s) OR id = ANY(%s) LIMIT 1", (blake3s, ids)
        ).fetchone()
        if row is not None:
            raise Conflict(
                f"A model with the same content is already in the catalog as {row['id']} "
                f"(blake3 {row['blake3']}); it was not added again."
            )

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """One write transaction for loading many rows (a rebuild): search words written once at the end
        (also when the block fails, so an outer transaction that commits anyway stays searchable)."""
        with self.db.transaction() as conn:
            # Machines finding the catalog empty at once rebuild one after the other, never interleaved.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BULK_LOCK,))
            self._bulk.ids = set()
            try:
                yield
            finally:
                ids, self._bulk.ids = self._bulk.ids, None
                for chunk in chunks(sorted(ids), 1000):
                    reindex(conn, chunk)

    @contextmanager
    def content_lock(self, blake3: str) -> Iterator[None]:
        """A session advisory lock on the content hash, held on a connection of its own for the block:
        every machine importing the same bytes at once commits them one after the other."""
        key = int(blake3[:15], 16)  # 60 bits of the hash: a bigint key, collisions only serialize
        with self.db.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
            conn.commit()
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                conn.commit()

    def update(self, model_id: str, **fields: Any) -> Model:
        changes = changes_of(fields)
        columns = changes.columns
        with self.db.transaction() as conn:
            if changes.extras:  # the preview, sites and a newer version share one column
                row = conn.execute(
                    "SELECT extras_json FROM models WHERE id = %s FOR UPDATE", (model_id,)
                ).fetchone()
                if row is None:
                    raise not_found(model_id)
                columns["extras_json"] = changes.merged_extras(row["extras_json"])
            assignments = ", ".join(f"{column} = %s" for column in columns)
            cursor = conn.execute(
                f"UPDATE models SET {assignments} WHERE id = %s", (*columns.values(), model_id)
            )
            if cursor.rowcount == 0:
                raise not_found(model_id)
            if changes.tags is not None:
                conn.execute("DELETE FROM tags WHERE model_id = %s", (model_id,))
                conn.execute(INSERT_TAGS, ([model_id] * len(changes.tags), changes.tags))
            if changes.searched:
                self.index(conn, [model_id])
            return self.get(model_id)

    def delete(self, model_id: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM models WHERE id = %s", (model_id,)).rowcount == 0:
                raise not_found(model_id)

    def delete_all(self, *, location: str | None = None) -> int:
        with self.db.transaction() as conn:
            if location is None:
                return int(conn.execute("DELETE FROM models").rowcount)
            check_values(location=location)
            return int(conn.execute("DELETE FROM models WHERE location = %s", (location,)).rowcount)

    def add_origin(self, model_id: str, path: str, kind: str) -> None:
        check_origin_kind(kind)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM models WHERE id = %s", (model_id,)).fetchone() is None:
                raise not_found(model_id)
            conn.execute(_INSERT_ORIGIN, (model_id, path, kind, utcnow()))
            refresh_aliases(conn, [model_id])

    # -- reads -----------------------------------------------------------------------------------------
    def origins(self, model_id: str) -> list[Origin]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT path, kind, recorded_at FROM model_origins WHERE model_id = %s ORDER BY id",
                (model_id,),
            ).fetchall()
        return [(r["path"], r["kind"], r["recorded_at"]) for r in rows]

    def resolve(self, ref: str, *, name_prefix: bool = False) -> Model:
        limit = f'ORDER BY id COLLATE "C" LIMIT {CANDIDATES}'
        lookups = Lookups(
            find=self.find,
            by_blake3=self.by_blake3,
            by_sha256=self.by_sha256,
            id_prefix=lambda p: self._select(f"WHERE starts_with(id, %s) {limit}", (p,)),
            # ASCII case only, as SQLite's NOCASE and LIKE
            named=lambda name, nocase: self._select(
                f"WHERE {'lower(name) = lower(%s)' if nocase else 'name = %s'} {limit}", (name,)
            ),
            name_start=lambda text: self._select(
                f'WHERE lower(name) LIKE lower(%s) ORDER BY name COLLATE "C", id LIMIT {CANDIDATES}',
                (like_pattern(text),),
            ),
        )
        return resolve(ref, lookups, name_prefix=name_prefix)

    def count(self) -> int:
        with self.db.read() as conn:
            row = conn.execute("SELECT coalesce(sum(n), 0) AS n FROM model_counts").fetchone()
        return int(row["n"]) if row else 0

    def any_at(self, location: str) -> bool:
        with self.db.read() as conn:
            return (
                conn.execute("SELECT 1 FROM models WHERE location = %s LIMIT 1", (location,)).fetchone()
                is not None
            )

    def iter_all(self, batch: int = 1000) -> Iterator[Model]:
        last = 0
        while True:
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT * FROM models WHERE rowid > %s ORDER BY rowid LIMIT %s", (last, batch)
                ).fetchall()
                if not rows:
                    return
            last = rows[-1]["rowid"]
            yield from hydrate(rows)

    def tag_counts(self) -> list[tuple[str, int]]:
        with self.db.read() as conn:
            rows = conn.execute(
                'SELECT tag, count(*) AS n FROM tags GROUP BY tag ORDER BY n DESC, tag COLLATE "C"'
            ).fetchall()
        return [(r["tag"], r["n"]) for r in rows]

    def facet_counts(self) -> dict[str, list[tuple[str, int]]]:
        with self.db.read() as conn:
            return facet_values(conn)

    def facets(self, query: ModelQuery) -> Facets:
        with self.db.read() as conn:
            return facets(conn, query)

    def _select(self, where: str, params: tuple[object, ...]) -> list[Model]:
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT * FROM models {where}", params).fetchall()
        return hydrate(rows)

    def close(self) -> None:
        """Close what listens on the server, then the connection pool (the library closes its store last)."""
        while self.closing:
            self.closing.pop()()
        self.db.close()

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self, query: ModelQuery) -> Page:
        started = time.perf_counter()
        with self.db.read() as conn:
            result = run_search(conn, query)
        items = hydrate(result.rows, with_metadata=False)
        return Page(tuple(items), result.total, (time.perf_counter() - started) * 1000, result.total_capped)


if TYPE_CHECKING:  # mypy proves the PostgreSQL store implements the whole contract

    def _conforms(db: PostgresDatabase) -> CatalogStore[Conn]:
        return PostgresCatalog(db)
