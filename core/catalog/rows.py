"""Model rows <-> ``Model`` values for the SQLite catalog: parameters of an insert, hydration of a page
(one query for all files, one for all tags), the checks of the catalog's vocabularies, and aliases.

Shared by ``repository.py`` (the catalog's CRUD) and ``in_place.py`` (models catalogued in place).
"""

# SQL here is assembled only from fixed fragments (placeholders); values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..errors import CatalogCorrupt, InvalidInput
from ..model_extras import About, Preview, SiteOrigin, UpdateInfo
from ..models import Hashes, Model, ModelFile, ModelSource, utcnow
from ..taxonomy import BaseModelType, Location, ModelState, ModelType, Vocabulary
from .store import ORIGIN_KINDS

INSERT_MODEL = (
    "INSERT INTO models (id, name, type, base_model, format, file_format, security, size, location, "
    "rel_dir, blake3, sha256, source_json, repo_id, tags_text, notes, manual_fields, metadata_json, "
    "warnings_json, state, added_at, updated_at, trigger_words_json, trigger_text, preview_json, "
    "site_origins_json, update_json, about_json, favorite, used_at) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
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
        dumps(model.preview.to_record()) if model.preview is not None else "",
        dumps([o.to_dict() for o in model.site_origins]),
        dumps(model.update.to_dict()) if model.update is not None else "",
        dumps(model.about.to_dict()) if model.about is not None else "",
        1 if model.favorite else 0,
        model.used_at,
    )


def _loads(text: str, default: object) -> object:
    return json.loads(text) if text else default


def hydrate(
    conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], *, with_metadata: bool = True
) -> list[Model]:
    """Rows of ``models`` -> Models, with one query for all their files and one for all their tags.

    List pages leave out the header metadata (the largest field, shown only in a model's detail)."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
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
    return [model_from_row(row, files[row["id"]], tags[row["id"]], with_metadata) for row in rows]


def model_from_row(
    row: sqlite3.Row, files: list[ModelFile], tags: list[str], with_metadata: bool = True
) -> Model:
    try:
        source = ModelSource.from_dict(json.loads(row["source_json"]))
        manual = frozenset(json.loads(row["manual_fields"]))
        metadata = json.loads(row["metadata_json"]) if with_metadata else {}
        warnings = tuple(json.loads(row["warnings_json"]))
        trigger_words = tuple(str(w) for w in json.loads(row["trigger_words_json"]))
        preview = Preview.from_record(_loads(row["preview_json"], None))
        origins = _loads(row["site_origins_json"], [])
        site_origins = tuple(
            o for o in map(SiteOrigin.from_dict, origins if isinstance(origins, list) else []) if o
        )
        update = UpdateInfo.from_dict(_loads(row["update_json"], None))
        about = (
            About.from_dict(json.loads(row["about_json"])) if with_metadata and row["about_json"] else None
        )
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
        trigger_words=trigger_words,
        preview=preview,
        site_origins=site_origins,
        update=update,
        about=about,
        favorite=bool(row["favorite"]),
        used_at=row["used_at"],
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
