"""The model catalog: CRUD over models, their files, tags and origins (the ``Catalog`` contract).

All SQL about models lives here and in ``search.py``; services see only ``Model`` values. A PostgreSQL
catalog will implement the same ``Catalog`` protocol. Loading a page of models costs three queries
(models, their files, their tags), never one per model. Tags and files keep the order they were given in.
"""

# SQL here is assembled only from fixed fragments (column names, ORDER BY clauses); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from ..errors import CatalogCorrupt, Conflict, InvalidInput, ModelNotFound
from ..models import EDITABLE_FIELDS, Hashes, Model, ModelFile, ModelQuery, ModelSource, Page, utcnow
from ..taxonomy import BaseModelType, Location, ModelState, ModelType, Vocabulary
from .bulk import triggers_suspended
from .db import Database
from .search import run_search

ORIGIN_KINDS = ("import", "download", "upload", "adopt")
MIN_ID_PREFIX = 6
BULK_CACHE_KIB = 256 * 1024
# Page cache of a reader that searches. 8 MiB measured as fast as 32 MiB at 100,000 models (misses are
# served by the OS page cache), and a host keeps up to four readers (core/catalog/db.py).
READ_CACHE_KIB = 8 * 1024
Origin = tuple[str, str, str]  # (path, kind, recorded_at)


class Catalog(Protocol):
    """What services may ask of the catalog. Errors: ModelNotFound, Conflict, InvalidInput."""

    def add(self, model: Model, *, origin: tuple[str, str] | None = None) -> None:
        """Insert a model; Conflict if its blake3 (or id) is already catalogued."""

    def add_many(
        self, models: Iterable[Model], *, origins: Mapping[str, Sequence[Origin]] | None = None
    ) -> int:
        """Insert many models in one transaction; Conflict (nothing inserted) on any duplicate."""

    def get(self, model_id: str) -> Model: ...
    def find(self, model_id: str) -> Model | None: ...
    def by_blake3(self, blake3_hex: str) -> Model | None: ...
    def by_sha256(self, sha256_hex: str) -> list[Model]: ...
    def by_file_hash(self, blake3_hex: str) -> list[Model]:
        """Models owning any file with this content hash."""

    def resolve(self, ref: str) -> Model:
        """Id, unique id prefix (>= 6), ``blake3:``/``sha256:`` hash, or unique exact name."""

    def update(self, model_id: str, **fields: Any) -> Model: ...
    def delete(self, model_id: str) -> None: ...
    def delete_all(self, *, location: str | None = None) -> int: ...
    def add_origin(self, model_id: str, path: str, kind: str) -> None: ...
    def origins(self, model_id: str) -> list[Origin]: ...
    def count(self) -> int: ...
    def iter_all(self, batch: int = 1000) -> Iterator[Model]: ...
    def tag_counts(self) -> list[tuple[str, int]]: ...
    def facet_counts(self) -> dict[str, list[tuple[str, int]]]: ...

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self, query: ModelQuery) -> Page: ...


_INSERT_ORIGIN = "INSERT OR IGNORE INTO model_origins (model_id, path, kind, recorded_at) VALUES (?, ?, ?, ?)"
_INSERT_MODEL = (
    "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, location, "
    "rel_dir, blake3, sha256, source_json, repo_id, tags_text, notes, manual_fields, metadata_json, "
    "warnings_json, state, added_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# All three: an update during a bulk load (aliases, say) must not touch index rows never written.
_FTS_TRIGGERS = ("models_ai", "models_ad", "models_au")
_FACETS = ("type", "base_model", "file_format", "security", "location")


_MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".pkl", ".onnx")


def file_alias(path: str) -> str:
    """The name a file gives its model: its base name without model extensions."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    lowered = name.lower()
    for suffix in _MODEL_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def refresh_aliases(conn: sqlite3.Connection, model_ids: Iterable[str]) -> None:
    """Recompute ``aliases`` (the other names the model's bytes were seen under) from its origins."""
    for model_id in model_ids:
        row = conn.execute("SELECT name, aliases FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            continue
        names = dict.fromkeys(
            file_alias(r[0])
            for r in conn.execute(
                "SELECT path FROM model_origins WHERE model_id = ? "
                "UNION ALL SELECT path FROM source_files WHERE model_id = ?",
                (model_id, model_id),
            )
        )
        aliases = " ".join(n for n in names if n and n.lower() != str(row["name"]).lower())[:4000]
        if aliases != row["aliases"]:
            conn.execute("UPDATE models SET aliases = ? WHERE id = ?", (aliases, model_id))


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _unique(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _check_values(**values: object) -> None:
    allowed: dict[str, type[Vocabulary]] = {
        "type": ModelType,
        "base_model": BaseModelType,
        "location": Location,
        "state": ModelState,
    }
    for key, value in values.items():
        if not allowed[key].has(value):
            raise InvalidInput(f"Unknown {key} {value!r}; use one of: {', '.join(allowed[key].values())}.")


def _model_params(model: Model) -> tuple[object, ...]:
    _check_values(type=model.type, base_model=model.base_model, location=model.location, state=model.state)
    now = utcnow()
    return (
        model.id,
        model.name,
        model.type,
        model.base_model,
        model.format,
        model.file_format,
        model.security,
        model.size,
        model.location,
        model.rel_dir,
        model.hashes.blake3,
        model.hashes.sha256,
        _dumps(model.source.to_dict()),
        model.source.repo_id or "",
        " ".join(_unique(model.tags)),
        model.notes,
        _dumps(sorted(model.manual_fields)),
        _dumps(dict(model.metadata)),
        _dumps(list(model.warnings)),
        model.state,
        model.added_at or now,
        model.updated_at or model.added_at or now,
    )


class ModelRepository:
    """The SQLite ``Catalog``."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
            for chunk in _chunks(models, 500):
                self._check_new(conn, chunk)
                conn.executemany(_INSERT_MODEL, [_model_params(m) for m in chunk])
                conn.executemany(
                    "INSERT INTO model_files (model_id, path, size, blake3, sha256) VALUES (?,?,?,?,?)",
                    [(m.id, f.path, f.size, f.blake3, f.sha256) for m in chunk for f in m.files],
                )
                conn.executemany(
                    "INSERT INTO tags (model_id, tag) VALUES (?, ?)",
                    [(m.id, tag) for m in chunk for tag in _unique(m.tags)],
                )
                rows = [(m.id, *o) for m in chunk for o in origins.get(m.id, ())]
                for _model_id, _path, kind, _at in rows:
                    _check_origin_kind(kind)
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
                conn.execute(f"PRAGMA cache_size = {int(cache)}")

    def update(self, model_id: str, **fields: Any) -> Model:
        columns: dict[str, object] = {}
        tags: list[str] | None = None
        for key, value in fields.items():
            if key in ("name", "notes", "rel_dir"):
                columns[key] = str(value)
            elif key in ("type", "base_model", "state", "location"):
                _check_values(**{key: value})
                columns[key] = value
            elif key == "tags":
                if isinstance(value, str):
                    raise InvalidInput("tags must be a list of strings, not one string.")
                tags = _unique(str(t) for t in value)
                columns["tags_text"] = " ".join(tags)
            elif key == "source":
                columns["source_json"] = _dumps(value.to_dict())
                columns["repo_id"] = value.repo_id or ""
            elif key == "metadata":
                columns["metadata_json"] = _dumps({str(k): str(v) for k, v in dict(value).items()})
            elif key == "manual_fields":
                unknown = set(value) - set(EDITABLE_FIELDS)
                if unknown:
                    raise InvalidInput(
                        f"manual_fields may only name {EDITABLE_FIELDS}, not {sorted(unknown)}."
                    )
                columns["manual_fields"] = _dumps(sorted(value))
            elif key == "warnings":
                columns["warnings_json"] = _dumps([str(w) for w in value])
            else:
                raise InvalidInput(f"The field {key!r} cannot be updated.")
        columns["updated_at"] = utcnow()
        assignments = ", ".join(f"{column} = ?" for column in columns)
        with self.db.transaction() as conn:
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
            _check_values(location=location)
            return int(conn.execute("DELETE FROM models WHERE location = ?", (location,)).rowcount)

    def add_origin(self, model_id: str, path: str, kind: str) -> None:
        _check_origin_kind(kind)
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

    def resolve(self, ref: str) -> Model:
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
        return _one(
            named or self._select("WHERE name = ? COLLATE NOCASE ORDER BY id LIMIT 11", (text,)), text
        )

    def count(self) -> int:
        return int(self.db.execute_read("SELECT count(*) FROM models")[0][0])

    def iter_all(self, batch: int = 1000) -> Iterator[Model]:
        last = 0
        while True:
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT rowid AS rid, * FROM models WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, batch)
                ).fetchall()
                if not rows:
                    return
                models = _hydrate(conn, rows)
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

    def _select(self, where: str, params: tuple[object, ...]) -> list[Model]:
        with self.db.read() as conn:
            rows = conn.execute(f"SELECT * FROM models {where}", params).fetchall()
            return _hydrate(conn, rows)

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self, query: ModelQuery) -> Page:
        started = time.perf_counter()
        with self.db.read() as conn:
            _ensure_read_cache(conn)
            result = run_search(conn, query)
            items = _hydrate(conn, result.rows, with_metadata=False)
        return Page(tuple(items), result.total, (time.perf_counter() - started) * 1000, result.total_capped)


def _ensure_read_cache(conn: sqlite3.Connection) -> None:
    # Search joins FTS hits to wide model rows; SQLite's default 2 MiB page cache makes every other
    # lookup a read from the OS. Pages are allocated only as used.
    (size,) = conn.execute("PRAGMA cache_size").fetchone()
    if -READ_CACHE_KIB < size < 0 or 0 <= size < READ_CACHE_KIB // 4:
        conn.execute(f"PRAGMA cache_size = {-READ_CACHE_KIB}")


def _hydrate(
    conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], *, with_metadata: bool = True
) -> list[Model]:
    """Rows of ``models`` -> Models, with one query for all their files and one for all their tags.

    List pages leave out the header metadata (the largest field, shown only in a model's detail)."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    files: dict[str, list[ModelFile]] = {i: [] for i in ids}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in _chunks(ids, 900):
        marks = ",".join("?" * len(chunk))
        for f in conn.execute(
            f"SELECT model_id, path, size, blake3, sha256 FROM model_files "
            f"WHERE model_id IN ({marks}) ORDER BY rowid",
            chunk,
        ):
            files[f[0]].append(ModelFile(f[1], f[2], f[3], f[4]))
        for t in conn.execute(
            f"SELECT model_id, tag FROM tags WHERE model_id IN ({marks}) ORDER BY rowid",
            chunk,
        ):
            tags[t[0]].append(t[1])
    return [_model_from_row(row, files[row["id"]], tags[row["id"]], with_metadata) for row in rows]


def _model_from_row(
    row: sqlite3.Row, files: list[ModelFile], tags: list[str], with_metadata: bool = True
) -> Model:
    try:
        source = ModelSource.from_dict(json.loads(row["source_json"]))
        manual = frozenset(json.loads(row["manual_fields"]))
        metadata = json.loads(row["metadata_json"]) if with_metadata else {}
        warnings = tuple(json.loads(row["warnings_json"]))
    except (ValueError, TypeError, AttributeError) as exc:
        raise CatalogCorrupt(
            f"The catalog row of model {row['id']} holds broken JSON ({exc}). Run `model-library rebuild`."
        ) from exc
    return Model(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        base_model=row["base_model"],
        format=row["format"],
        file_format=row["file_format"],
        security=row["security"],
        size=row["size"],
        hashes=Hashes(row["blake3"], row["sha256"]),
        files=tuple(files),
        location=row["location"],
        rel_dir=row["rel_dir"],
        source=source,
        tags=tuple(tags),
        notes=row["notes"],
        added_at=row["added_at"],
        updated_at=row["updated_at"],
        manual_fields=manual,
        metadata=metadata,
        warnings=warnings,
        state=row["state"],
    )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_origin_kind(kind: str) -> None:
    if kind not in ORIGIN_KINDS:
        raise InvalidInput(f"Unknown origin kind {kind!r}; use one of: {', '.join(ORIGIN_KINDS)}.")


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
