"""Model rows <-> ``Model`` values for the SQLite catalog: parameters of an insert, hydration of a page
(one query for all files, one for all tags), the checks of the catalog's vocabularies, and aliases.

Shared by ``repository.py`` (the catalog's CRUD) and ``in_place.py`` (models catalogued in place).
"""

# SQL here is assembled only from fixed fragments (placeholders); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import CatalogCorrupt, InvalidInput
from ..model_extras import About, Preview, SiteOrigin, UpdateInfo
from ..models import Hashes, Model, ModelFile, ModelSource, utcnow
from ..taxonomy import (
    BaseModelType,
    Location,
    MatchKind,
    ModelState,
    ModelType,
    PreviewSource,
    Site,
    Vocabulary,
)
from .store import ORIGIN_KINDS

_PREVIEW_SOURCES: dict[str, Any] = dict(PreviewSource._value2member_map_)
_SITES: dict[str, Any] = dict(Site._value2member_map_)
_MATCHES: dict[str, Any] = dict(MatchKind._value2member_map_)

# The columns a list page reads: not the header metadata nor what the sites say (the detail's alone,
# and the widest values of a row).
LIST_COLUMN_NAMES = (
    "rowid, id, name, type, base_model, format, file_format, security, size, location, rel_dir, blake3, "
    "sha256, source_json, repo_id, tags_text, notes, manual_fields, warnings_json, state, added_at, "
    "updated_at, aliases, trigger_words_json, extras_json, favorite, used_at"
)
LIST_COLUMNS = ", ".join("m." + c for c in LIST_COLUMN_NAMES.split(", "))

INSERT_MODEL_HEAD = (
    "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, location, "
    "rel_dir, blake3, sha256, source_json, repo_id, tags_text, notes, manual_fields, metadata_json, "
    "warnings_json, state, added_at, updated_at, trigger_words_json, trigger_text, extras_json, "
    "about_json, favorite, used_at)"
)
MODEL_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_MODEL = f"{INSERT_MODEL_HEAD} VALUES {MODEL_ROW}"
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
    """Recompute ``aliases`` (the other names the model's bytes were seen under) from its origins: three
    statements per 300 models (a group's commit adds hundreds at once), not three per model."""
    ids = list(dict.fromkeys(model_ids))
    for start in range(0, len(ids), 300):
        chunk = ids[start : start + 300]
        marks = ",".join("?" * len(chunk))
        # Only placeholders are formatted in; the ids are bound.
        models = conn.execute(f"SELECT id, name, aliases FROM models WHERE id IN ({marks})", chunk)
        found = {str(r[0]): (str(r[1]), r[2]) for r in models}
        paths: dict[str, list[str]] = {model_id: [] for model_id in found}
        for model_id, path in conn.execute(
            f"SELECT model_id, path FROM model_origins WHERE model_id IN ({marks}) "
            f"UNION ALL SELECT model_id, path FROM source_files WHERE model_id IN ({marks})",
            (*chunk, *chunk),
        ):
            if model_id in paths:
                paths[model_id].append(path)
        changed = []
        for model_id, (name, old) in found.items():
            names = dict.fromkeys(file_alias(p) for p in paths[model_id])
            aliases = " ".join(n for n in names if n and n.lower() != name.lower())[:4000]
            if aliases != old:
                changed.append((aliases, model_id))
        conn.executemany("UPDATE models SET aliases = ? WHERE id = ?", changed)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def unique(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def check_values(**values: object) -> None:
    allowed: dict[str, type[Vocabulary]] = {
        "type": ModelType,
        "base_model": BaseModelType,
        "location": Location,
        "state": ModelState,
    }
    for key, value in values.items():
        if not allowed[key].has(value):
            raise InvalidInput(f"Unknown {key} {value!r}; use one of: {', '.join(allowed[key].values())}.")


def check_origin_kind(kind: str) -> None:
    if kind not in ORIGIN_KINDS:
        raise InvalidInput(f"Unknown origin kind {kind!r}; use one of: {', '.join(ORIGIN_KINDS)}.")


def model_params(model: Model) -> tuple[object, ...]:
    check_values(type=model.type, base_model=model.base_model, location=model.location, state=model.state)
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
        dumps(model.source.to_dict()),
        model.source.repo_id or "",
        " ".join(unique(model.tags)),
        model.notes,
        dumps(sorted(model.manual_fields)),
        dumps(dict(model.metadata)),
        dumps(list(model.warnings)),
        model.state,
        model.added_at or now,
        model.updated_at or model.added_at or now,
        *extras_params(model),
    )


def extras_params(model: Model) -> tuple[object, ...]:
    """Parameters of the issue-15 columns, in INSERT_MODEL's order (trigger_words_json ... used_at)."""
    return (
        dumps(list(model.trigger_words)),
        " ".join(model.trigger_words),
        extras_json(model.preview, model.site_origins, model.update, model.default_strength),
        dumps(model.about.to_dict()) if model.about is not None else "",
        1 if model.favorite else 0,
        model.used_at,
    )


def extras_json(
    preview: Preview | None,
    site_origins: Sequence[SiteOrigin],
    update: UpdateInfo | None,
    strength: float | None = None,
) -> str:
    """The ``extras_json`` column: "" when there is nothing (most rows; read without parsing)."""
    if preview is None and not site_origins and update is None and strength is None:
        return ""
    return dumps(
        {
            "preview": preview.to_record() if preview is not None else None,
            "site_origins": [o.to_dict() for o in site_origins],
            "update": update.to_dict() if update is not None else None,
            "strength": strength,
        }
    )


# Parsed JSON columns by their text: the values are frozen, so rows with the same text share them. A
# list page re-read as the user types costs a dict lookup per column instead of a parse and new objects.
PARSE_CACHE = 8192


@functools.lru_cache(maxsize=PARSE_CACHE)
def source_of(text: str) -> ModelSource:
    return ModelSource.from_dict(json.loads(text))


@functools.lru_cache(maxsize=PARSE_CACHE)
def words_of(text: str) -> tuple[str, ...]:
    return tuple(str(w) for w in json.loads(text))


@functools.lru_cache(maxsize=PARSE_CACHE)
def extras_of(
    text: str,
) -> tuple[Preview | None, tuple[SiteOrigin, ...], UpdateInfo | None, float | None]:
    """``extras_json`` -> its values. The catalog's own JSON (written by ``extras_json``): read without
    the checks a stranger's sidecar gets, as every list page reads it for every row."""
    if not text:
        return None, (), None, None
    data = json.loads(text)
    p, u = data["preview"], data["update"]
    return (
        Preview(_PREVIEW_SOURCES.get(p["source"], p["source"]), p["tag"], p["nsfw_level"]) if p else None,
        tuple(
            SiteOrigin(
                _SITES.get(o["site"], o["site"]),
                o["url"],
                o.get("model_name"),
                o.get("version_name"),
                _MATCHES.get(o["match"], o["match"]),
                o["confidence"],
            )
            for o in data["site_origins"]
        ),
        UpdateInfo(_SITES.get(u["site"], u["site"]), u["version_name"], u["url"]) if u else None,
        data.get("strength"),
    )


def hydrate(
    conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], *, with_metadata: bool = True
) -> list[Model]:
    """Rows of ``models`` -> Models, with one query for all their files and one for all their tags.

    List pages leave out the header metadata (the largest field, shown only in a model's detail)."""
    if not rows:
        return []
    # sqlite3.Row finds a column by name comparing it with each column's, case folded: reading a row
    # that way cost a list page about a millisecond. A dict of each row is read for a tenth of that.
    keys = rows[0].keys()
    records = [dict(zip(keys, row, strict=True)) for row in rows]
    ids = [record["id"] for record in records]
    files: dict[str, list[ModelFile]] = {i: [] for i in ids}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    for chunk in chunks(ids, 900):
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
    return [model_from_row(r, files[r["id"]], tags[r["id"]], with_metadata) for r in records]


def model_from_row(
    row: Mapping[str, Any], files: list[ModelFile], tags: list[str], with_metadata: bool = True
) -> Model:
    try:
        source = source_of(row["source_json"])
        manual_text = row["manual_fields"]
        manual = frozenset(json.loads(manual_text)) if manual_text != "[]" else frozenset()
        metadata = json.loads(row["metadata_json"]) if with_metadata else {}
        warnings_text = row["warnings_json"]
        warnings = tuple(json.loads(warnings_text)) if warnings_text != "[]" else ()
        words = row["trigger_words_json"]
        trigger_words = words_of(words) if words != "[]" else ()
        preview, site_origins, update, strength = extras_of(row["extras_json"])
        about = (
            About.from_dict(json.loads(row["about_json"])) if with_metadata and row["about_json"] else None
        )
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise CatalogCorrupt(
            f"The catalog row of model {row['id']} holds broken JSON ({exc}). Run `model-library rebuild`."
        ) from exc
    return Model.of_fields(
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
        trigger_words=trigger_words,
        preview=preview,
        site_origins=site_origins,
        update=update,
        about=about,
        favorite=bool(row["favorite"]),
        used_at=row["used_at"],
        default_strength=strength,
    )


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
