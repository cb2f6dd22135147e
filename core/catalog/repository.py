"""The SQLite catalog store: CRUD over models, their files, tags and origins (``CatalogStore`` in
``store.py``), with the models catalogued in place in ``in_place.py`` (``ModelRepository.in_place``).

Services see only ``Model`` values. Loading a page of models costs three queries (models, their files,
their tags), never one per model (``rows.hydrate``). Tags and files keep the order they were given in.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, InvalidInput, ModelNotFound
from ..model_extras import clean_trigger_words
from ..models import EDITABLE_FIELDS, Model, ModelQuery, Page, utcnow
from .bulk import triggers_suspended
from .db import Database
from .facets import facet_counts
from .in_place import SqliteInPlaceModels
from .rows import (
    INSERT_MODEL,
    check_origin_kind,
    check_values,
    chunks,
    dumps,
    extras_json,
    extras_of,
    hydrate,
    model_params,
    refresh_aliases,
    unique,
)
from .search import run_search
from .store import CatalogStore, Facets, InPlaceModels, Origin

MIN_ID_PREFIX = 6
BULK_CACHE_KIB = 256 * 1024
# Page cache of a reader that searches. 8 MiB measured as fast as 32 MiB at 100,000 models (misses are
# served by the OS page cache), and a host keeps up to four readers (core/catalog/db.py).
READ_CACHE_KIB = 8 * 1024


_INSERT_ORIGIN = "INSERT OR IGNORE INTO model_origins (model_id, path, kind, recorded_at) VALUES (?, ?, ?, ?)"
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


def _trigger_columns(words: Any) -> dict[str, object]:
    if isinstance(words, str) or not isinstance(words, (list, tuple)):
        raise InvalidInput("trigger_words must be a list of strings, not one string.")
    kept = clean_trigger_words(words)
    return {"trigger_words_json": dumps(list(kept)), "trigger_text": " ".join(kept)}


def _json_or_empty(column: str, to_json: str) -> Callable[[Any], dict[str, object]]:
    def columns(value: Any) -> dict[str, object]:
        return {column: dumps(getattr(value, to_json)()) if value is not None else ""}

    return columns


# The issue-15 fields kept together in ``extras_json``.
_EXTRAS_JSON = frozenset({"preview", "site_origins", "update", "default_strength"})
# The issue-15 fields ``update`` may set, each to the columns it writes.
_EXTRA_COLUMNS: dict[str, Callable[[Any], dict[str, object]]] = {
    "trigger_words": _trigger_columns,
    "about": _json_or_empty("about_json", "to_dict"),
    "favorite": lambda v: {"favorite": 1 if v else 0},
    "used_at": lambda v: {"used_at": str(v)},
}


class ModelRepository:
    """The SQLite ``CatalogStore[sqlite3.Connection]``."""

    def __init__(self, db: Database) -> None:
        self.db = db
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
                conn.executemany(INSERT_MODEL, [model_params(m) for m in chunk])
                conn.executemany(
                    "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (?,?,?,?,?)",
                    [(m.id, f.path, f.size, f.blake3, f.sha256) for m in chunk for f in m.files],
                )
                conn.executemany(
                    "INSERT INTO tags (model_id, tag) VALUES (?, ?)",
                    [(m.id, tag) for m in chunk for tag in unique(m.tags)],
                )
                rows = [(m.id, *o) for m in chunk for o in origins.get(m.id, ())]
                for _model_id, _path, kind, _at in rows:
                    check_origin_kind(kind)
                conn.executemany(_INSERT_ORIGIN, rows)
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
        columns: dict[str, object] = {}
        tags: list[str] | None = None
        extras: dict[str, Any] = {}
        for key, value in fields.items():
            if key in ("name", "notes", "rel_dir"):
                columns[key] = str(value)
            elif key in ("type", "base_model", "state", "location"):
                check_values(**{key: value})
                columns[key] = value
            elif key == "tags":
                if isinstance(value, str):
                    raise InvalidInput("tags must be a list of strings, not one string.")
                tags = unique(str(t) for t in value)
                columns["tags_text"] = " ".join(tags)
            elif key == "source":
                columns["source_json"] = dumps(value.to_dict())
                columns["repo_id"] = value.repo_id or ""
            elif key == "metadata":
                columns["metadata_json"] = dumps({str(k): str(v) for k, v in dict(value).items()})
            elif key == "manual_fields":
                unknown = set(value) - set(EDITABLE_FIELDS)
                if unknown:
                    raise InvalidInput(
                        f"manual_fields may only name {EDITABLE_FIELDS}, not {sorted(unknown)}."
                    )
                columns["manual_fields"] = dumps(sorted(value))
            elif key == "warnings":
                columns["warnings_json"] = dumps([str(w) for w in value])
            elif key in _EXTRA_COLUMNS:
                columns.update(_EXTRA_COLUMNS[key](value))
            elif key in _EXTRAS_JSON:
                extras[key] = value
            else:
                raise InvalidInput(f"The field {key!r} cannot be updated.")
        columns["updated_at"] = utcnow()
        with self.db.transaction() as conn:
            if extras:  # the preview, sites and a newer version share one column: read, change, write
                row = conn.execute("SELECT extras_json FROM models WHERE id = ?", (model_id,)).fetchone()
                if row is None:
                    raise _not_found(model_id)
                preview, origins, update, strength = extras_of(row[0])
                columns["extras_json"] = extras_json(
                    extras.get("preview", preview),
                    tuple(extras.get("site_origins", origins)),
                    extras.get("update", update),
                    extras.get("default_strength", strength),
                )
            assignments = ", ".join(f"{column} = ?" for column in columns)
            cursor = conn.execute(
                f"UPDATE models SET {assignments} WHERE id = ?",
                (*columns.values(), model_id),
            )
            if cursor.rowcount == 0:
                raise _not_found(model_id)
            if tags is not None:
                conn.execute("DELETE FROM tags WHERE model_id = ?", (model_id,))
                conn.executemany(
                    "INSERT INTO tags (model_id, tag) VALUES (?, ?)", [(model_id, t) for t in tags]
                )
            return self.get(model_id)

    def delete(self, model_id: str) -> None:
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM models WHERE id = ?", (model_id,)).rowcount == 0:
                raise _not_found(model_id)

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
                raise _not_found(model_id)
            conn.execute(_INSERT_ORIGIN, (model_id, path, kind, utcnow()))
            refresh_aliases(conn, {model_id})

    # -- reads -----------------------------------------------------------------------------------------
    def origins(self, model_id: str) -> list[Origin]:
        rows = self.db.execute_read(
            "SELECT path, kind, recorded_at FROM model_origins WHERE model_id = ? ORDER BY id", (model_id,)
        )
        return [(r["path"], r["kind"], r["recorded_at"]) for r in rows]

    def get(self, model_id: str) -> Model:
        model = self.find(model_id)
        if model is None:
            raise _not_found(model_id)
        return model

    def find(self, model_id: str) -> Model | None:
        found = self._select("WHERE id = ?", (model_id,))
        return found[0] if found else None

    def by_blake3(self, blake3_hex: str) -> Model | None:
        found = self._select("WHERE blake3 = ?", (blake3_hex.lower(),))
        return found[0] if found else None

    def by_sha256(self, sha256_hex: str) -> list[Model]:
        return self._select("WHERE sha256 = ? ORDER BY id", (sha256_hex.lower(),))

    def by_file_hash(self, blake3_hex: str) -> list[Model]:
        return self._select(
            "WHERE id IN (SELECT model_id FROM model_files WHERE blake3 = ?) ORDER BY id",
            (blake3_hex.lower(),),
        )

    def resolve(self, ref: str, *, name_prefix: bool = False) -> Model:
        text = ref.strip()
        if not text:
            raise InvalidInput("An empty model reference; give an id, an id prefix, a hash or a name.")
        algo, _, digest = text.partition(":")
        if digest and algo.lower() in ("blake3", "sha256"):
            found = self.by_sha256(digest) if algo.lower() == "sha256" else _listed(self.by_blake3(digest))
            return _one(found, text)
        exact = self.find(text.lower())
        if exact is not None:
            return exact
        if len(text) == 64 and _is_hex(text):
            found = _listed(self.by_blake3(text)) or self.by_sha256(text)
            if found:
                return _one(found, text)
        if len(text) >= MIN_ID_PREFIX and _is_hex(text):
            prefix = text.lower()
            found = self._select("WHERE id >= ? AND id < ? ORDER BY id LIMIT 11", (prefix, prefix + "~"))
            if found:
                return _one(found, text)
        named = self._select("WHERE name = ? ORDER BY id LIMIT 11", (text,))
        named = named or self._select("WHERE name = ? COLLATE NOCASE ORDER BY id LIMIT 11", (text,))
        if not named and name_prefix:  # the start of a name ("jugg" for juggernautXL_v9), if unique
            pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            named = self._select("WHERE name LIKE ? ESCAPE '\\' ORDER BY name, id LIMIT 11", (pattern,))
        return _one(named, text)

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
            result = run_search(conn, query)
            items = hydrate(conn, result.rows, with_metadata=False)
        return Page(tuple(items), result.total, (time.perf_counter() - started) * 1000, result.total_capped)


def _ensure_read_cache(conn: sqlite3.Connection) -> None:
    # Search joins FTS hits to wide model rows; SQLite's default 2 MiB page cache makes every other
    # lookup a read from the OS. Pages are allocated only as used.
    (size,) = conn.execute("PRAGMA cache_size").fetchone()
    if -READ_CACHE_KIB < size < 0 or 0 <= size < READ_CACHE_KIB // 4:
        conn.execute(f"PRAGMA cache_size = {-READ_CACHE_KIB}")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _listed(model: Model | None) -> list[Model]:
    return [model] if model is not None else []


def _not_found(ref: str) -> ModelNotFound:
    return ModelNotFound(
        f"No model {ref!r} in the catalog. Use `model-library search` to find its id, "
        "or `model-library rebuild` if the catalog is out of date."
    )


def _one(found: Sequence[Model], ref: str) -> Model:
    if not found:
        raise _not_found(ref)
    if len(found) > 1:
        names = ", ".join(f"{m.id} ({m.name})" for m in found[:10])
        more = " and more" if len(found) > 10 else ""
        raise InvalidInput(f"{ref!r} matches several models: {names}{more}. Use a longer id or a hash.")
    return found[0]


if TYPE_CHECKING:  # mypy proves the SQLite store implements the whole contract

    def _conforms(db: Database) -> CatalogStore[sqlite3.Connection]:
        return ModelRepository(db)
