"""The catalog store's contract: what a backend of the model catalog implements (SQLite today).

``Catalog`` is what services ask of models (CRUD, lookups, a page of a search). ``InPlaceModels`` is what
the sources (folders catalogued in place) ask: provisional rows inserted by the thousand, re-keyed or
merged once hashed, renamed, refreshed. Its writes join a transaction the caller opened (``Tx``: for
SQLite a ``sqlite3.Connection`` from ``Database.transaction()``), because they change the sources' own
tables in the same breath. ``CatalogStore`` is both: a second backend (PostgreSQL) implements it, and
tests/core/catalog/conformance/ runs the same contract against every implementation.

Every statement on ``models``, ``models_fts``, ``model_files``, ``tags`` and ``model_origins`` lives in
``core/catalog/`` (tests/core/catalog/test_table_owner.py keeps it so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..models import Model, ModelQuery, Page

ORIGIN_KINDS = ("import", "download", "upload", "adopt")
Origin = tuple[str, str, str]  # (path, kind, recorded_at)
Tx = TypeVar("Tx", contravariant=True)

# A provisional model as the walk found it: (id, name, type, format, file_format, size, rel_dir,
# placeholder blake3, added_at, updated_at); and one of its files: (model id, path in its folder, size).
ProvisionalRow = tuple[str, str, str, str, str, int, str, str, str, str]
ProvisionalFile = tuple[str, str, int]
# What a header told (inspect_pending): (type or None to keep, base_model, file_format, security,
# metadata JSON, warnings JSON, trigger words JSON, trigger text, updated_at, file id, size, mtime_ns,
# inode): the model of that version of
# that file, if still catalogued in place and still not inspected, takes them (but never over a field the
# user set by hand).
HeaderUpdate = tuple[Any, ...]


@dataclass(frozen=True)
class Facets:
    """Counts for the panel's filter chips (see facets.py)."""

    type: dict[str, int]
    base_model: dict[str, int]
    favorites: int
    total: int
    capped: bool  # counted over the first COUNT_CAP text hits only

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Settled:
    """Where a provisional model's files belong once hashed: ``model_id``; ``merged`` when it was another
    model already (its provisional row is gone) rather than its own row re-keyed."""

    model_id: str
    merged: bool


@dataclass(frozen=True)
class Uninspected:
    """A present file catalogued in place whose header nobody has read yet, with its model's format and
    folder and its source's root."""

    file_id: int
    path: str
    size: int
    mtime_ns: int
    inode: int
    format: str
    rel_dir: str
    root: str


@dataclass(frozen=True)
class HeldInPlace:
    """A hashed model with ``copies`` present files in sources (what adoption could free)."""

    id: str
    name: str
    size: int
    location: str
    copies: int


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
    def by_blake3_many(self, blake3_hexes: Sequence[str]) -> dict[str, Model]:
        """The catalogued models among these hashes, by lowercase hash (one lookup for a group)."""

    def by_sha256(self, sha256_hex: str) -> list[Model]: ...
    def by_file_hash(self, blake3_hex: str) -> list[Model]:
        """Models owning any file with this content hash."""

    def resolve(self, ref: str, *, name_prefix: bool = False) -> Model:
        """Id, unique id prefix (>= 6), ``blake3:``/``sha256:`` hash, or unique exact name; with
        ``name_prefix`` also the unique start of a name (for people typing, never for workflows: a missing
        model must not resolve to another whose name merely starts the same)."""

    def update(self, model_id: str, **fields: Any) -> Model: ...
    def delete(self, model_id: str) -> None: ...
    def delete_all(self, *, location: str | None = None) -> int: ...
    def add_origin(self, model_id: str, path: str, kind: str) -> None: ...
    def origins(self, model_id: str) -> list[Origin]: ...
    def count(self) -> int: ...
    def any_at(self, location: str) -> bool:
        """True when at least one model is at ``location`` (``library`` or ``source``)."""

    def iter_all(self, batch: int = 1000) -> Iterator[Model]: ...
    def tag_counts(self) -> list[tuple[str, int]]: ...
    def facet_counts(self) -> dict[str, list[tuple[str, int]]]: ...

    def facets(self, query: ModelQuery) -> Facets: ...

    # Last: a method named ``list`` would shadow the builtin in the annotations below it.
    def list(self, query: ModelQuery) -> Page: ...


class InPlaceModels(Protocol[Tx]):
    """Models catalogued in place, for the sources. Writes join the caller's transaction ``tx``."""

    def existing_ids(self, tx: Tx, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are catalogued (any location)."""

    def insert_provisional(
        self, tx: Tx, rows: Sequence[ProvisionalRow], files: Sequence[ProvisionalFile]
    ) -> None:
        """Insert models the walk found (at location ``source``, ready, base model and security unknown),
        findable by name at once; thousands at a time, about as fast as the walk itself."""

    def refresh_provisional(self, tx: Tx, rows: Sequence[tuple[str, int, str, str]]) -> None:
        """(type, size, updated_at, id): a provisional model walked again: ready, with its new type and
        size. Models already hashed are left alone."""

    def follow_rename(self, tx: Tx, model_id: str, old_path: str, new_path: str, name: str) -> None:
        """A single-file model catalogued in place whose file was renamed: its file and folder follow,
        and it takes ``name`` unless the user named it by hand. Any other model is left alone."""

    def refresh_states(self, tx: Tx, model_ids: Iterable[str]) -> None:
        """``ready`` when in the library or with a present source file, else ``missing``."""

    def refresh_aliases(self, tx: Tx, model_ids: Iterable[str]) -> None:
        """Recompute the other names (from origins and source files) a model is findable by."""

    def settle(
        self,
        tx: Tx,
        provisional_id: str,
        blake3: str,
        sha256: str,
        file_hashes: Mapping[str, tuple[str, str]],
    ) -> Settled | None:
        """A provisional model fully hashed: re-key it to its content id (its files get ``file_hashes``,
        by path), or, when these bytes are a model already, delete it in favour of that one. None when
        ``provisional_id`` is no longer a provisional model (settled meanwhile, removed)."""

    def drop_orphans(self, tx: Tx, model_ids: Sequence[str]) -> int:
        """Delete those models that are only in sources and have no source file left. -> how many."""

    def attach_library_copy(
        self, tx: Tx, model_id: str, rel_dir: str, files: Sequence[tuple[str, int, str, str]]
    ) -> None:
        """The model's bytes are now in the library at ``rel_dir`` with ``files`` (path, size, blake3,
        sha256): it becomes a library model, ready."""

    def restore_times(self, tx: Tx, model_id: str, added_at: str, updated_at: str) -> None:
        """Put back a source model's listing times (a rebuild); library models keep theirs."""

    def source_times(self, tx: Tx, source_id: int) -> dict[str, tuple[str, str]]:
        """model id -> (added_at, updated_at) of the models catalogued in place with files in the source."""

    def uninspected(self, limit: int) -> list[Uninspected]:
        """Up to ``limit`` present files whose header is still to be read."""

    def apply_headers(self, tx: Tx, updates: Sequence[HeaderUpdate]) -> None:
        """Refine the models of inspected files (see ``HeaderUpdate``)."""

    def held_in_place(self) -> list[HeldInPlace]:
        """Every hashed model with at least one present file in a source."""


class CatalogStore(Catalog, Protocol[Tx]):
    """One backend of the catalog: the models (``Catalog``) and the models catalogued in place."""

    @property
    def in_place(self) -> InPlaceModels[Tx]: ...

    def bulk(self) -> AbstractContextManager[None]:
        """One write transaction for loading many rows (a rebuild), the search index rebuilt once."""

    def content_lock(self, blake3: str) -> AbstractContextManager[None]:
        """Held while deciding whether these bytes are a new model and committing them: an import of the
        same bytes elsewhere at the same moment waits, then finds the model (one model, one folder). Every
        process sharing the catalog honours it (PostgreSQL: an advisory lock per content hash)."""
