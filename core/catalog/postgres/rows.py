"""Model rows of the PostgreSQL catalog: hydration (files and tags from the copies on each row, 0004), the
other names a model is found by, and its search words (``doc``, documents.py)."""

# SQL here is assembled only from fixed fragments (column names); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...models import Model, ModelFile
from ..rows import INSERT_MODEL, file_alias, model_from_row, unique
from .database import Conn
from .documents import DOC_FIELDS, documents

# A new row with migration 0004's copies of its files and tags (``listed`` gives them, before
# ``model_params``'s values).
INSERT = (
    INSERT_MODEL.replace("INSERT INTO models (", "INSERT INTO models (files_listed, tags_listed, ")
    .replace("VALUES (", "VALUES (?, ?, ")
    .replace("?", "%s")
)
_DOC_COLUMNS = ", ".join(DOC_FIELDS)
# Files and tags of many models in one statement each (arrays, one per column): the triggers keeping
# each row's copies (0004) then see every file and tag of a model at once, so an add rewrites no row.
INSERT_FILES = (
    "INSERT INTO model_files (model_id, path, size, blake3, sha256) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[])"
)
INSERT_TAGS = "INSERT INTO tags (model_id, tag) SELECT * FROM unnest(%s::text[], %s::text[])"


def columns(rows: Sequence[tuple[object, ...]], width: int) -> list[list[object]]:
    """``rows`` as one list per column (the arrays of ``INSERT_FILES`` and ``INSERT_TAGS``)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def listed(model: Model) -> tuple[list[str], list[str]]:
    """The values of ``files_listed`` (path, size, blake3, sha256 of each file, flat) and ``tags_listed``
    for a new row of ``model``."""
    return [v for f in model.files for v in (f.path, str(f.size), f.blake3, f.sha256)], unique(model.tags)


def _files(flat: Sequence[str]) -> list[ModelFile]:
    """``files_listed`` -> ModelFiles."""
    return [ModelFile(flat[i], int(flat[i + 1]), flat[i + 2], flat[i + 3]) for i in range(0, len(flat), 4)]


def hydrate(rows: Sequence[Mapping[str, Any]], *, with_metadata: bool = True) -> list[Model]:
    """Rows of ``models`` (with 0004's ``files_listed`` and ``tags_listed``) -> Models, in that order."""
    return [
        model_from_row(
            row,
            _files(row["files_listed"]),
            list(row["tags_listed"]),
            with_metadata,
        )
        for row in rows
    ]


_UPSERT_SEARCH = (
    "INSERT INTO model_search (rowid, id, name_key, type, base_model, location, security, file_format, "
    "favorite, added_at, size, used_at, name_length, doc) "
    "SELECT m.rowid, m.id, lower(m.name), m.type, m.base_model, m.location, m.security, m.file_format, "
    "m.favorite, m.added_at, m.size, m.used_at, length(m.name), d.doc::tsvector "
    "FROM unnest(%s::text[], %s::text[]) AS d(id, doc) JOIN models m ON m.id = d.id "
    "ON CONFLICT (rowid) DO UPDATE SET id = excluded.id, name_key = excluded.name_key, "
    "type = excluded.type, base_model = excluded.base_model, location = excluded.location, "
    "security = excluded.security, file_format = excluded.file_format, favorite = excluded.favorite, "
    "added_at = excluded.added_at, size = excluded.size, used_at = excluded.used_at, "
    "name_length = excluded.name_length, doc = excluded.doc"
)


def reindex(conn: Conn, model_ids: Iterable[str]) -> None:
    """Write these models' search rows (schema.py: ``model_search``) with their words, in one statement."""
    ids = list(dict.fromkeys(model_ids))
    if not ids:
        return
    rows = conn.execute(f"SELECT id, {_DOC_COLUMNS} FROM models WHERE id = ANY(%s)", (ids,)).fetchall()
    pairs = documents(rows)
    conn.execute(_UPSERT_SEARCH, ([i for _, i in pairs], [d for d, _ in pairs]))


def refresh_aliases(conn: Conn, model_ids: Iterable[str]) -> None:
    """Recompute ``aliases`` (the other names the model's bytes were seen under) and its search words."""
    changed: list[str] = []
    for model_id in dict.fromkeys(model_ids):
        row = conn.execute("SELECT name, aliases FROM models WHERE id = %s", (model_id,)).fetchone()
        if row is None:
            continue
        paths = conn.execute(
            "SELECT path FROM model_origins WHERE model_id = %s "
            "UNION ALL SELECT path FROM source_files WHERE model_id = %s",
            (model_id, model_id),
        ).fetchall()
        names = dict.fromkeys(file_alias(r["path"]) for r in paths)
        aliases = " ".join(n for n in names if n and n.lower() != str(row["name"]).lower())[:4000]
        if aliases != row["aliases"]:
            conn.execute("UPDATE models SET aliases = %s WHERE id = %s", (aliases, model_id))
            changed.append(model_id)
    reindex(conn, changed)
