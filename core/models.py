"""Value objects shared by every part of the core.

All are frozen dataclasses; ``to_dict`` gives the JSON shapes fixed in CONTRACT.md. Fields drawn from a
vocabulary (``type``, ``base_model``, ``state``...) are typed by the ``str`` Enums of :mod:`.taxonomy`;
a value built from plain strings (a catalog row, JSON) holds the members (see ``_members``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .model_extras import About, Preview, SiteOrigin, UpdateInfo
from .taxonomy import (
    BaseModelType,
    FileFormat,
    LinkKind,
    Location,
    MatchKind,
    ModelFormat,
    ModelState,
    ModelType,
    SecurityLevel,
)


def _members(obj: object, fields: _Fields) -> None:
    """Turn plain strings (a catalog row, JSON, a caller's ``replace(type="lora")``) into their members.

    An unknown value is kept as the plain string, as :meth:`Vocabulary.of` does. Runs for every value
    built (a page of search hits, a rebuild of 100,000 rows), so it writes the frozen instance's
    ``__dict__`` directly: one dict lookup per field.
    """
    state = obj.__dict__
    for name, by_value in fields:
        value = state[name]
        state[name] = by_value.get(value, value)


_Fields = tuple[tuple[str, Mapping[Any, Any]], ...]
_SOURCE_FIELDS: _Fields = (("match", MatchKind._value2member_map_),)
_LINK_FIELDS: _Fields = (("kind", LinkKind._value2member_map_),)
_MODEL_FIELDS: _Fields = tuple(
    (name, vocab._value2member_map_)
    for name, vocab in (
        ("type", ModelType),
        ("base_model", BaseModelType),
        ("format", ModelFormat),
        ("file_format", FileFormat),
        ("security", SecurityLevel),
        ("location", Location),
        ("state", ModelState),
    )
)


# Fields a user may edit; once edited they are recorded in ``Model.manual_fields`` and automatic
# enrichment (HF lookup, re-detection) never overwrites them.
EDITABLE_FIELDS = ("name", "type", "base_model", "tags", "notes", "trigger_words")


_now_text: tuple[int, str] = (-1, "")


def utcnow() -> str:
    """Now as ISO-8601 with a ``Z``-free explicit UTC offset, second precision.

    Made once a second (an adoption asks about five times for each of thousands of files)."""
    global _now_text
    second = int(time.time())
    made, text = _now_text  # one read: another thread may replace it meanwhile
    if second != made:
        text = datetime.fromtimestamp(second, timezone.utc).isoformat()
        _now_text = (second, text)
    return text


# Source models are listed before they are hashed; until then their content hash is this placeholder.
PENDING_PREFIX = "pending:"


def model_id_from_blake3(blake3_hex: str) -> str:
    """The stable model id: the first 16 hex digits of the content BLAKE3 (64 bits).

    Derived from content only, so a rebuild from disk or another machine gives the same id.
    """
    return blake3_hex[:16]


@dataclass(frozen=True)
class Hashes:
    blake3: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"blake3": self.blake3, "sha256": self.sha256}


@dataclass(frozen=True)
class ModelFile:
    """One file of a model. ``path`` is POSIX, relative to the model's folder."""

    path: str
    size: int
    blake3: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "blake3": self.blake3 or None,
            "sha256": self.sha256 or None,
        }


@dataclass(frozen=True)
class ModelSource:
    """Where a model came from."""

    kind: str = "local"  # local | huggingface
    repo_id: str | None = None
    revision: str | None = None
    filename: str | None = None
    match: MatchKind = MatchKind.NONE
    confidence: float = 0.0

    def __post_init__(self) -> None:
        _members(self, _SOURCE_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "match": self.match, "confidence": self.confidence}
        for key in ("repo_id", "revision", "filename"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSource:
        return cls(
            kind=str(d.get("kind", "local")),
            repo_id=d.get("repo_id"),
            revision=d.get("revision"),
            filename=d.get("filename"),
            match=MatchKind.of(str(d.get("match", "none"))),
            confidence=float(d.get("confidence", 0.0)),
        )


@dataclass(frozen=True)
class Link:
    path: str
    kind: LinkKind
    app: str = "comfyui"

    def __post_init__(self) -> None:
        _members(self, _LINK_FIELDS)

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "app": self.app}


@dataclass(frozen=True)
class Model:
    """A model in the catalog: one file, a Diffusers folder, or a sharded set.

    ``rel_dir`` is the model's folder relative to the library root (POSIX) for ``location == "library"``.
    ``metadata`` keeps a small, string-only subset of the file's own header metadata (modelspec, ss_*)
    used for detection, lookup and display. ``manual_fields`` lists fields a user edited.
    """

    id: str
    name: str
    type: ModelType
    base_model: BaseModelType
    format: ModelFormat
    file_format: FileFormat
    security: SecurityLevel
    size: int
    hashes: Hashes
    files: tuple[ModelFile, ...]
    location: Location = Location.LIBRARY
    rel_dir: str = ""
    source: ModelSource = field(default_factory=ModelSource)
    tags: tuple[str, ...] = ()
    notes: str = ""
    added_at: str = ""
    updated_at: str = ""
    manual_fields: frozenset[str] = frozenset()
    metadata: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    state: ModelState = ModelState.READY
    # What the sites say of it and what the user picked (core/model_extras.py); ``about`` is detail only.
    trigger_words: tuple[str, ...] = ()
    preview: Preview | None = None
    site_origins: tuple[SiteOrigin, ...] = ()
    update: UpdateInfo | None = None
    about: About | None = None
    favorite: bool = False
    used_at: str = ""
    default_strength: float | None = None  # the user's LoRA strength for "Add to workflow"

    def __post_init__(self) -> None:
        _members(self, _MODEL_FIELDS)

    @classmethod
    def of_fields(cls, **values: Any) -> Model:
        """A Model from a value for every field (a catalog row). The frozen ``__init__`` sets its 29
        fields one ``object.__setattr__`` at a time: 9 us a model, half a millisecond a list page."""
        if values.keys() != _MODEL_FIELD_NAMES:
            missing, extra = _MODEL_FIELD_NAMES - values.keys(), values.keys() - _MODEL_FIELD_NAMES
            raise TypeError(f"Model.of_fields: missing {sorted(missing)}, unknown {sorted(extra)}")
        model = object.__new__(cls)
        model.__dict__.update(values)
        _members(model, _MODEL_FIELDS)
        return model

    def replace(self, **changes: Any) -> Model:
        return dataclasses.replace(self, **changes)

    @property
    def hashed(self) -> bool:
        """False for a source model whose bytes the background hasher has not read yet."""
        return not self.hashes.blake3.startswith(PENDING_PREFIX)

    def to_dict(
        self, *, library_root: str | None = None, links: tuple[Link, ...] | None = None
    ) -> dict[str, Any]:
        """The CONTRACT.md JSON shape. ``library_root`` and ``links`` add the detail-view fields."""
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "base_model": self.base_model,
            "format": self.format,
            "file_format": self.file_format,
            "security": self.security,
            "size": self.size,
            "location": self.location,
            "state": self.state,
            "hashes": self.hashes.to_dict() if self.hashed else {"blake3": None, "sha256": None},
            "hashed": self.hashed,
            "files": [f.to_dict() for f in self.files],
            "source": self.source.to_dict(),
            "tags": list(self.tags),
            "notes": self.notes,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
            "manual_fields": sorted(self.manual_fields),
            "metadata": dict(self.metadata),
            "warnings": list(self.warnings),
            "trigger_words": list(self.trigger_words),
            "preview": self.preview.to_dict(self.id) if self.preview is not None else None,
            "origins": [o.to_dict() for o in self.site_origins],
            "update": self.update.to_dict() if self.update is not None else None,
            "favorite": self.favorite,
            "used_at": self.used_at,
            "default_strength": self.default_strength,
        }
        if self.about is not None or library_root is not None:  # the detail view always has it
            d["about"] = (self.about or About()).to_dict()
        if library_root is not None:
            if self.location == "library":
                d["dir"] = str(_join(library_root, self.rel_dir))
            else:
                d["dir"] = self.rel_dir
        if links is not None:
            d["links"] = [link.to_dict() for link in links]
        return d


_MODEL_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Model))


def _join(root: str, rel: str) -> str:
    import os

    return os.path.join(root, *rel.split("/")) if rel else root


@dataclass(frozen=True)
class ImportItem:
    """One outcome of an import: CONTRACT.md's ``import --json`` item."""

    source_path: str
    status: str  # imported | duplicate | failed
    model: Model | None = None
    error: str | None = None
    error_code: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"source_path": self.source_path, "status": self.status}
        if self.model is not None:
            d.update(
                id=self.model.id,
                name=self.model.name,
                type=self.model.type,
                base_model=self.model.base_model,
                hashes=self.model.hashes.to_dict(),
                security=self.model.security,
            )
        if self.error is not None:
            d["error"] = self.error
            d["error_code"] = self.error_code or "model_library_error"
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    stage: str

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "stage": self.stage}


SORT_KEYS = (
    "relevance",
    "name",
    "-name",
    "added",
    "-added",
    "size",
    "-size",
    "type",
    "-type",
    "used",
    "-used",
)


@dataclass(frozen=True)
class ModelQuery:
    """A catalog query: full-text ``q`` plus filters, sort and page. Validated by the search module."""

    q: str = ""
    type: str | None = None
    base_model: str | None = None
    tag: str | None = None
    location: str | None = None
    security: str | None = None
    file_format: str | None = None
    favorite: bool | None = None
    sort: str = "relevance"
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Page:
    items: tuple[Model, ...]
    total: int
    took_ms: float
    total_capped: bool = False  # a broad text match stops counting at the search's cap

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [m.to_dict() for m in self.items],
            "total": self.total,
            "total_capped": self.total_capped,
            "took_ms": round(self.took_ms, 3),
        }
